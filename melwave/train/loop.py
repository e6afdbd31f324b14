"""The one training loop every recipe runs in.

    train(config, data_dir, run_dir, resume=..., init=...) -> run_dir

Run folder layout (only rank 0 writes):
    RUN/config.yaml            the resolved run config (what `--resume` trains with)
    RUN/checkpoints/step-N.pt  full training state, newest K kept (see checkpoint.py)
    RUN/model.safetensors      the exported model, refreshed at every checkpoint and at the end;
                               `melwave.load_vocoder(RUN)` loads it
    RUN/tensorboard/           scalars, validation audio and mel images
    RUN/train.log              the log lines also printed to the console
"""

from __future__ import annotations

import logging
import math
import random
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from melwave.errors import CheckpointError, ConfigError, MelwaveError
from melwave.train import checkpoint as ckpt
from melwave.train import distributed as dist_utils
from melwave.train.config import RunConfig, parse_run_config, read_yaml
from melwave.train.recipe import Recipe, RecipeContext, get_recipe, unwrap
from melwave.train.state import TrainState
from melwave.utils.optional import require

log = logging.getLogger("melwave.train")


class TrainingDiverged(MelwaveError):
    """A loss or gradient became NaN/Inf; training stopped, the last good checkpoint is kept."""


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def checkpoint_payload(recipe: Recipe, state: TrainState, config: RunConfig, info: dist_utils.DistributedInfo) -> dict[str, Any]:
    """Everything needed to continue exactly: tensors and primitives only."""
    rng_states = dist_utils.gather_objects(ckpt.rng_state(), info)  # collective: every rank calls
    return {
        "state": state.state_dict(),
        "world_size": info.world_size,
        "config_yaml": config.to_yaml(),
        "modules": {k: unwrap(m).state_dict() for k, m in recipe.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in recipe.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in recipe.schedulers.items()},
        "extra": recipe.extra_state(),
        "rng": rng_states,
    }


def restore(recipe: Recipe, state: TrainState, document: dict[str, Any], info: dist_utils.DistributedInfo, path: Path) -> None:
    for group, target in (("modules", recipe.modules), ("optimizers", recipe.optimizers), ("schedulers", recipe.schedulers)):
        saved = document.get(group, {})
        if set(saved) != set(target):
            raise CheckpointError(f"{path}: holds {group} {sorted(saved)} but the recipe has {sorted(target)}")
        for key, obj in target.items():
            try:
                unwrap(obj).load_state_dict(saved[key]) if group == "modules" else obj.load_state_dict(saved[key])
            except (RuntimeError, ValueError, KeyError) as err:
                raise CheckpointError(f"{path}: {group}.{key} does not fit this run's model ({str(err).splitlines()[0]})") from None
    recipe.load_extra_state(document.get("extra", {}))
    state.load_state_dict(document["state"])
    rngs = document.get("rng", [])
    if document.get("world_size") == info.world_size and len(rngs) == info.world_size:
        ckpt.set_rng_state(rngs[info.rank])
    else:
        # A different number of processes: the exact random streams can't be continued; give
        # each rank a fresh stream that still depends on where training is.
        log.warning("%s: saved with %s processes, resuming with %d: random streams re-seeded",
                    path, document.get("world_size"), info.world_size)
        seed_everything(recipe.config.train.seed + 1000003 * state.step + info.rank)


def _writer(run_dir: Path):
    SummaryWriter = require("torch.utils.tensorboard", "TensorBoard training logs").SummaryWriter

    return SummaryWriter(str(run_dir / "tensorboard"))


def _add_file_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger("melwave").addHandler(handler)
    if logging.getLogger("melwave").level == logging.NOTSET or logging.getLogger("melwave").level > logging.INFO:
        logging.getLogger("melwave").setLevel(logging.INFO)
    return handler


def resolve_run_config(config: RunConfig | None, run_dir: Path, *, resume: bool, overrides_config: RunConfig | None = None) -> RunConfig:
    """On resume, the run's stored config is the one trained with; a given config may only change
    the `train` section (e.g. more steps). Otherwise the given config."""
    stored = run_dir / "config.yaml"
    if not (resume and stored.exists()):
        if config is None:
            raise ConfigError(f"{run_dir}: no config.yaml to resume from; pass --config")
        return config
    saved = parse_run_config(read_yaml(stored), source=str(stored))
    if config is None:
        return saved
    mine, theirs = config.to_dict(), saved.to_dict()
    changed = [section for section in ("model", "mel", "data", "recipe") if mine[section] != theirs[section]]
    if changed:
        raise ConfigError(f"{run_dir}: --resume with a config whose {changed} section(s) differ from the run's "
                          f"config.yaml; only `train` settings may change when resuming")
    return config


def train(config: RunConfig, data_dir: str | Path | None, run_dir: str | Path, *, resume: bool = False,
          init: str | None = None, on_finish: Callable[[Recipe, TrainState], None] | None = None) -> Path:
    """Train `config`'s recipe on `data_dir`, writing the run to `run_dir`. Returns run_dir.

    `on_finish(recipe, state)` is called on every rank after the last step (before the process
    group closes), e.g. to inspect the trained modules.
    """
    run_dir = Path(run_dir)
    info = dist_utils.init_distributed(config.train.device)
    try:
        return _train(config, data_dir, run_dir, info, resume=resume, init=init, on_finish=on_finish)
    finally:
        dist_utils.shutdown(info)


def _train(config: RunConfig, data_dir, run_dir: Path, info: dist_utils.DistributedInfo, *, resume: bool, init: str | None,
           on_finish=None) -> Path:
    existing = ckpt.list_checkpoints(run_dir)
    if existing and not resume:
        raise ConfigError(f"{run_dir}: already holds checkpoints (up to step {existing[-1][0]}); "
                          f"pass --resume to continue it, or choose another --out")
    handler = None
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        handler = _add_file_log(run_dir)
    else:
        # Other ranks would repeat rank 0's lines; they still report warnings and errors.
        logging.getLogger("melwave").setLevel(logging.WARNING)
    dist_utils.barrier(info)
    try:
        return _run(config, data_dir, run_dir, info, resume=resume, init=init, on_finish=on_finish)
    finally:
        if handler is not None:
            logging.getLogger("melwave").removeHandler(handler)
            handler.close()


def _run(config: RunConfig, data_dir, run_dir: Path, info: dist_utils.DistributedInfo, *, resume: bool, init: str | None,
         on_finish=None) -> Path:
    train_cfg = config.train
    seed_everything(train_cfg.seed + info.rank)
    context = RecipeContext(device=info.device, rank=info.rank, world_size=info.world_size,
                            wrap_module=lambda m: dist_utils.wrap_module(m, info), seed=train_cfg.seed)
    recipe = get_recipe(config.recipe.name)(config, context)
    recipe.build()
    for key, module in recipe.modules.items():
        recipe.modules[key] = module.to(info.device)
    state = TrainState(rank=info.rank, world_size=info.world_size)

    latest = ckpt.load_latest(run_dir, map_location=info.device) if resume else None
    if latest is not None:
        path, document = latest
        restore(recipe, state, document, info, path)
        log.info("resumed from %s (step %d)", path, state.step)
    else:
        if resume:
            log.info("%s: no checkpoint yet, starting from step 0", run_dir)
        init = init or train_cfg.init
        if init:
            recipe.init_from(init)
            log.info("initialised from %s", init)
    if info.is_main:
        (run_dir / "config.yaml").write_text(
            "# Resolved run config written by `melwave train`; `--resume` trains with this.\n" + config.to_yaml())

    train_set, val_set = recipe.datasets(data_dir)
    recipe.wrap(context.wrap_module)
    sampler_seed = train_cfg.seed
    from melwave.data.audio_segments import ResumableBatchSampler

    sampler = ResumableBatchSampler(len(train_set), train_cfg.batch_size, seed=sampler_seed, rank=info.rank,
                                    world_size=info.world_size, start_batch=state.data_position,
                                    keyed=getattr(train_set, "keyed", False))
    # Its own generator: starting to iterate draws the workers' base seed, which from the global
    # stream would shift every random draw of a resumed run's train_step (noise, diffusion times)
    # against the run it continues. Batches come from the sampler, so the data is unaffected.
    loader = torch.utils.data.DataLoader(train_set, batch_sampler=sampler, collate_fn=recipe.collate,
                                         num_workers=train_cfg.num_workers, pin_memory=info.device.type == "cuda",
                                         persistent_workers=train_cfg.num_workers > 0,
                                         generator=torch.Generator().manual_seed(train_cfg.seed + info.rank))
    writer = _writer(run_dir) if info.is_main else None
    if info.is_main:
        n_params = {k: sum(p.numel() for p in m.parameters()) for k, m in recipe.modules.items()}
        log.info("training %s (%s) for %d steps on %s x%d; parameters: %s; %d training examples%s",
                 config.model.family, config.recipe.name, train_cfg.steps, info.device, info.world_size,
                 ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in n_params.items()), len(train_set),
                 f", {len(val_set)} validation clips" if val_set is not None else "")
        skipped = list(getattr(train_set, "problems", [])) + list(getattr(val_set, "problems", []))
        if skipped:
            log.warning("%d file(s) could not be read and were skipped (listed above)", len(skipped))

    last_checkpoint = latest[0] if latest else None
    window_start, window_steps, started = time.monotonic(), 0, time.monotonic()
    try:
        if state.step >= train_cfg.steps:
            log.info("already trained %d of %d steps", state.step, train_cfg.steps)
        for batch in loader:
            if state.step >= train_cfg.steps:
                break
            for module in recipe.modules.values():
                module.train()
            metrics = recipe.train_step(to_device(batch, info.device), state)
            bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
            if dist_utils.any_true(bool(bad), info):
                raise TrainingDiverged(
                    f"step {state.step + 1}: non-finite {', '.join(bad) or 'loss on another rank'} "
                    f"({', '.join(f'{k}={metrics[k]}' for k in bad)}); training stopped. Last good checkpoint: "
                    f"{last_checkpoint or 'none written yet'} (lower train.learning_rate, set train.grad_clip, "
                    f"or use precision fp32, then --resume)")
            state.step += 1
            state.data_position += 1
            window_steps += 1

            if info.is_main and (state.step % train_cfg.log_every == 0 or state.step == train_cfg.steps):
                now = time.monotonic()
                rate = window_steps / max(now - window_start, 1e-9)
                eta = (train_cfg.steps - state.step) / rate if rate > 0 else float("inf")
                shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
                log.info("step %d/%d | %s | %.2f steps/s | ETA %s", state.step, train_cfg.steps, shown, rate, format_duration(eta))
                for key, value in metrics.items():
                    writer.add_scalar(f"train/{key}", value, state.step)
                writer.add_scalar("train/steps_per_second", rate, state.step)
                window_start, window_steps = now, 0

            paused = time.monotonic()  # validation and checkpoints don't count against steps/s
            if train_cfg.validate_every and state.step % train_cfg.validate_every == 0 and val_set is not None:
                validate(recipe, val_set, state, writer, info)
            if state.step % train_cfg.checkpoint_every == 0 or state.step == train_cfg.steps:
                last_checkpoint = save(recipe, state, config, run_dir, info) or last_checkpoint
            window_start += time.monotonic() - paused
    finally:
        if writer is not None:
            writer.close()
    if info.is_main:
        export(recipe, run_dir, state)
        log.info("done: %d steps in %s; model: %s", state.step, format_duration(time.monotonic() - started), run_dir / "model.safetensors")
    if on_finish is not None:
        on_finish(recipe, state)
    return run_dir


def validate(recipe: Recipe, val_set, state: TrainState, writer, info: dist_utils.DistributedInfo) -> None:
    """Rank 0 evaluates the held-out clips one at a time (they differ in length)."""
    if not info.is_main:
        return
    for module in recipe.modules.values():
        module.eval()
    batches = (to_device(recipe.collate([val_set[i]]), info.device) for i in range(len(val_set)))
    started = time.monotonic()
    with torch.no_grad():
        result = recipe.validate(batches, state)
    for key, value in result.scalars.items():
        writer.add_scalar(f"val/{key}", value, state.step)
        if key not in state.best or value < state.best[key]:
            state.best[key] = value
    for key, (wave, rate) in result.audio.items():
        writer.add_audio(f"val/{key}", wave.detach().float().cpu().clamp(-1, 1).reshape(1, -1), state.step, sample_rate=rate)
    for key, image in result.images.items():
        writer.add_image(f"val/{key}", np.asarray(image), state.step, dataformats="HWC")
    writer.flush()
    log.info("validation at step %d: %s (%.1f s)", state.step,
             " ".join(f"{k}={v:.4g}" for k, v in result.scalars.items()), time.monotonic() - started)


def save(recipe: Recipe, state: TrainState, config: RunConfig, run_dir: Path, info: dist_utils.DistributedInfo) -> Path | None:
    payload = checkpoint_payload(recipe, state, config, info)
    path = None
    if info.is_main:
        path = ckpt.save_checkpoint(run_dir, state.step, payload, keep=config.train.keep_checkpoints)
        export(recipe, run_dir, state)
        log.info("checkpoint: %s", path)
    dist_utils.barrier(info)
    return path


def export(recipe: Recipe, run_dir: Path, state: TrainState) -> Path:
    from melwave.models.io.model_file import save_model

    model = recipe.export_model()
    return save_model(model, run_dir / "model.safetensors", overwrite=True, extra={"trained_steps": state.step})
