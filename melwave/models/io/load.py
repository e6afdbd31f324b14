"""Loading models by name or path: `load_vocoder` and `load_generator` (the public
`melwave.load_vocoder` and `melwave.load_generator`), and `load_classifier`.

Names come from the registry's tables (`melwave.models.io.registry`); paths are melwave's own
model files (`model_file`), other projects' published layouts (`formats`), `hf:` repositories
(`hub`) or exported `.onnx` graphs (`melwave.models.onnx.runtime`). Whatever the source, the file
passes the loading gate before anything is allocated, and an explicit mel config is never dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.models.io.model_file import load_model
from melwave.models.io.registry import NAMED_TABLE, _import_entry, available_vocoders, shipped_models

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from melwave.models.base import MelGenerator, Vocoder

# The generator `load_generator()` loads when given no name: melwave/pretrained/flow-notes/.
DEFAULT_GENERATOR = "flow-notes"

# How a loaded vocoder runs: torch (melwave's modules) or an ONNX Runtime session of its export.
BACKENDS = ("torch", "onnxruntime")


def _named_factory(name: str) -> Callable[..., Vocoder] | None:
    """The factory behind `load_vocoder(name)`, importing only that entry's module; None if unknown."""
    if name in NAMED_TABLE:
        module, factory, _ = NAMED_TABLE[name]
        return _import_entry(module, factory, f"vocoder {name!r}")
    shipped = shipped_models("vocoder")
    if name in shipped:
        model_file = shipped[name]
        return lambda device="cpu", mel_config=None: load_model(model_file, device=device)
    return None


def require_mel_config(vocoder: Vocoder, mel_config: MelConfig, *, name: str | None = None) -> None:
    """An explicitly given mel config must be the one a trained vocoder was made for: raise
    MelConfigMismatch naming every differing field (as a mismatching mel file does)."""
    mel_config.require_same(vocoder.mel_config, what="the given mel config (--mel-preset/--mel-config)",
                            expected_by=f"vocoder '{name or vocoder.name}'",
                            hint="leave it out to use the vocoder's own, or use -m griffinlim, which works under any")


def load_vocoder(name_or_path: str | Path, *, device: str | torch.device = "cpu", mel_config: MelConfig | None = None,
                 trust_file: bool = False, backend: str = "torch") -> Vocoder:
    """`load_vocoder("hifigan-universal" | "griffinlim" | PATH)`.

    PATH: a melwave `.safetensors` model, a folder holding `model.safetensors` (a training run),
    or a checkpoint in another project's published layout (`melwave.models.io.formats.LAYOUTS`).
    `trust_file` allows legacy pickles that need more than `weights_only` (this can run code).

    `mel_config`, when given, is never ignored: vocoders that work under any config (Griffin-Lim)
    use it, and a trained vocoder made for another config raises MelConfigMismatch naming the
    differing fields. Leave it out to get the vocoder's own config.

    `hf:OWNER/NAME[@REVISION]` is a Hugging Face repository, from the local cache or downloaded
    (melwave.models.io.hub). backend="onnxruntime" runs the model (or a `.onnx` file melwave exported)
    in ONNX Runtime (melwave.models.onnx.runtime); a `.onnx` PATH always does.
    """
    key = str(name_or_path)
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r}: expected one of {BACKENDS}")
    if backend == "onnxruntime" or key.endswith(".onnx"):
        from melwave.models.onnx.runtime import load_onnx

        if key.endswith(".onnx"):
            vocoder = load_onnx(key, source=key, device=device)
        else:  # any vocoder melwave loads, exported in memory
            from melwave.models.onnx.export import export_bytes

            torch_model = load_vocoder(key, mel_config=mel_config, trust_file=trust_file)
            vocoder = load_onnx(export_bytes(torch_model, source=key), source=key, device=device)
        if mel_config is not None:
            require_mel_config(vocoder, mel_config)
        return vocoder
    hub_spec = None
    if key.startswith("hf:"):
        from melwave.models.io.hub import resolve_hf

        hub_spec, key = key, str(resolve_hf(key))
    factory = _named_factory(key)
    if factory is not None:
        vocoder = factory(device=device, mel_config=mel_config)
        vocoder.name = key
    else:
        path = Path(key)
        if not path.exists():
            raise CheckpointError(f"unknown vocoder {key!r}: not a file, and not one of {sorted(available_vocoders())}")
        if path.suffix == ".safetensors" or (path.is_dir() and (path / "model.safetensors").exists()):
            vocoder = load_model(path, device=device)
        else:
            # Another project's published layout (HiFi-GAN .pth, Vocos, BigVGAN, ... folders):
            # the checkpoint's own config fixes its mel settings, checked below like any model's.
            from melwave.models.io.formats import load_external

            vocoder = load_external(path, device=device, trust_file=trust_file, mel_config=mel_config)
    if hub_spec is not None:
        vocoder.name = hub_spec
        vocoder.provenance = {**getattr(vocoder, "provenance", {}), "hub": hub_spec, "snapshot": key}
    if mel_config is not None:
        require_mel_config(vocoder, mel_config, name=key if factory is not None else None)
    return vocoder.eval()


def load_classifier(path: str | Path, *, device: str | torch.device = "cpu"):
    """A condition classifier (`melwave train classifier`) from its .safetensors file or run folder."""
    from melwave.models.classifier import MelClassifier

    model = load_model(path, device=device)
    if not isinstance(model, MelClassifier):
        raise CheckpointError(f"{path}: holds a {model.family!r} model, not a condition classifier")
    return model


def shipped_generators() -> dict[str, Path]:
    """Name -> model file of every generator that ships inside melwave (the registry's one
    shipped-model lookup, which serves the shipped vocoders too)."""
    return shipped_models("generator")


def load_generator(name_or_path: str | Path | None = None, *, device: str | torch.device = "cpu",
                   source_config: str | Path | None = None, trust_file: bool = False) -> MelGenerator:
    """A mel generator (any MelGenerator family: cwgan, flow) from a shipped name (default
    DEFAULT_GENERATOR), a .safetensors file or a run folder.

    With `source_config` (a DeepMelSpectrogramGenerator YAML config), `name_or_path` is a checkpoint
    its train scripts saved: the generator is rebuilt layer for layer and `generate(labels, z=z)`
    returns what the source's generate script returns for that z (its raw linear power mel, under
    the source's MelConfig). `trust_file` allows such a legacy file that needs full unpickling.
    """
    from melwave.models.base import MelGenerator

    if source_config is not None:
        from melwave.models.io.formats.deepmel import load_deepmel

        if name_or_path is None:
            raise ConfigError("source_config: give the DeepMel checkpoint it belongs to as well (-m PATH)")
        return load_deepmel(name_or_path, source_config, device=device, trust_file=trust_file)

    key = str(name_or_path) if name_or_path is not None else DEFAULT_GENERATOR
    shipped = shipped_generators()
    if key in shipped:
        path = shipped[key]
    else:
        path = Path(key)
        if not path.exists():
            raise CheckpointError(f"unknown generator {key!r}: not a file or run folder, and not one of the shipped "
                                  f"models {sorted(shipped) or '(none installed)'}")
    model = load_model(path, device=device)
    if not isinstance(model, MelGenerator):
        raise CheckpointError(f"{path}: holds a {model.family!r} model, not a mel generator")
    if model.uses_statistics and not model.has_statistics:
        raise CheckpointError(f"{path}: the generator has no normalisation statistics (was it ever trained?)")
    if key in shipped:
        model.name = key
    return model
