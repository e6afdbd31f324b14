"""Regenerates golden.json beside this script from a checkout of ryeoat3/gomin.

    python tests/goldens/gomin_diffusion/make_golden.py /path/to/gomin   (needs torch, diffusers)

Runs GOMIN's own GomiDiff (gomin/models/diffusion.py, imported by path: it needs only torch) and
the sampling loop of its DiffusionWrapper.forward with diffusers' DDPMScheduler(1e-4, 0.05, 50)
(the wrapper module itself imports torchaudio, unavailable here, so its eight-line loop is
repeated below as written there). Stores, without any of GOMIN's code:
- the state-dict names and shapes of the full-size checkpoint (DiffusionWrapper = "model." +
  GomiDiff(128, 30, 128, 10, 50)), what checkpoints/diffusion_state_dict.pt holds;
- a small GomiDiff whose weights follow a seeded rule (`seeded_state` in the test), its
  output on a seeded noise/mel/step, and the audio GOMIN's sampler makes from it with
  torch.manual_seed(SEED).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

SMALL = dict(in_channels=8, residual_layers=4, residual_channels=8, dilation_cycle_length=2, num_diffusion_steps=50)
FRAMES, HOP, STEP, SEED = 3, 256, 17, 5


def seeded_state(names_shapes: list[tuple[str, list[int]]], seed: int = 0) -> dict[str, torch.Tensor]:
    """The fixture's weights: N(0, 0.3²) drawn in the listed order from one seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=generator) * 0.3 for name, shape in names_shapes}


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(1, SMALL["in_channels"], FRAMES, generator=generator), torch.randn(1, FRAMES * HOP, generator=generator)


def main(source: str) -> None:
    import diffusers

    spec = importlib.util.spec_from_file_location("gomin_diffusion", Path(source) / "gomin/models/diffusion.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    full = module.GomiDiff(in_channels=128, residual_layers=30, residual_channels=128, dilation_cycle_length=10,
                           num_diffusion_steps=50)
    full_names = [[f"model.{k}", list(v.shape)] for k, v in full.state_dict().items()]

    small = module.GomiDiff(**SMALL).eval()
    names = [(k, list(v.shape)) for k, v in small.state_dict().items()]
    small.load_state_dict(seeded_state(names))
    mel, noise = inputs()
    with torch.no_grad():
        output = small(noise.unsqueeze(1), torch.tensor([STEP]), mel).squeeze(1)
        # DiffusionWrapper.forward (batch 1, as GOMIN's run.py calls it):
        scheduler = diffusers.DDPMScheduler(beta_start=0.0001, beta_end=0.05, num_train_timesteps=50)
        scheduler.set_timesteps(num_inference_steps=50)
        torch.manual_seed(SEED)
        x = torch.randn(1, 1, HOP * FRAMES)
        for t in scheduler.timesteps:
            predicted = small(x, torch.tensor([t]).long(), mel)
            x = scheduler.step(predicted, timestep=t, sample=x)["prev_sample"]
    fixture = {"small_config": SMALL, "frames": FRAMES, "step": STEP, "seed": SEED,
               "small_names": [[k, s] for k, s in names], "full_names": full_names,
               "network_output": [round(v, 7) for v in output[0].tolist()],
               "sampled_audio": [round(v, 7) for v in x[0, 0].tolist()]}
    out = Path(__file__).with_name("golden.json")
    out.write_text(json.dumps(fixture, separators=(",", ":")))
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
