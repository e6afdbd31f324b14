"""The Recipe interface: what a model family plugs into the one generic training loop.

The loop (melwave.train.loop.train) owns everything that is the same for every model: batches,
steps, checkpoints and resume, NaN checks, logging, validation scheduling, TensorBoard, export,
distributed set-up. A recipe owns what differs: which modules exist, how one step updates them,
what validation measures, which module is the exported product.

Batches are whatever the recipe's dataset yields (audio segments for vocoders, (mel, labels)
for a mel generator or the condition classifier); the loop only moves them to the device.

Recipes come in two families, each with a base that builds the model once from the run config and
takes its `mel_config` as the run's one mel config: recipes.vocoder_base.VocoderRecipe (audio
segments -> a Vocoder: gan, diffusion, distill) and recipes.labelled_base.LabelledMelRecipe (labelled
mel crops -> a conditional model: generator_base.GeneratorRecipe for wgan-gp and flow-matching, and
the classifier).

A recipe's life in the loop:
    recipe = MyRecipe(run_config, context)   # run_config: RunConfig; context: device, distributed helpers, rank
    recipe.build()                           # create modules, optimizers, schedulers
    (loop restores a checkpoint into recipe.modules/optimizers/schedulers + extra_state)
    recipe.wrap(context.wrap_module)         # DDP wrapping under torchrun (after restore)
    for each step: metrics = recipe.train_step(batch, state)   # floats; loop checks finiteness
    every N steps: recipe.validate(val_batches, state) -> Validation
    at checkpoints and the end: recipe.export_model() -> saved as RUN/model.safetensors
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable

import torch
from torch import Tensor, nn

from melwave.train.state import TrainState

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from melwave.train.run_config import RunConfig


@dataclass
class Validation:
    """What one validation pass reports.

    scalars: name -> value, logged and written to TensorBoard under `val/`.
    audio:   name -> ((T,) float tensor in [-1, 1], sample_rate), written to TensorBoard.
    images:  name -> (H, W, 3) uint8 array/tensor (e.g. a rendered mel), written to TensorBoard.
    """

    scalars: dict[str, float] = field(default_factory=dict)
    audio: dict[str, tuple[Tensor, int]] = field(default_factory=dict)
    images: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecipeContext:
    """What the loop gives a recipe: where to run, and how to take part in a distributed run.

    wrap_module(module) returns the module wrapped for data parallelism (DistributedDataParallel)
    or the module itself when running alone. `unwrap(module)` gives back the plain module.
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1
    wrap_module: Callable[[nn.Module], nn.Module] = lambda module: module
    seed: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel (or the module itself)."""
    return getattr(module, "module", module)


class Recipe(abc.ABC):
    """One family's training step, plugged into melwave.train.loop.train.

    Subclasses set `name` (the `recipe.name` value in configs that selects them), `trains` and `Options`
    (a frozen dataclass: the schema of the config's `recipe:` section), and fill in
    `self.modules`, `self.optimizers`, `self.schedulers` in `build()`.

    modules:    name -> nn.Module; all are checkpointed; the loop moves them to the device.
    optimizers: name -> torch.optim.Optimizer; checkpointed.
    schedulers: name -> LR scheduler stepped by the recipe (usually once per train_step); checkpointed.
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type] = type(None)
    # What the recipe produces: "vocoder" | "generator" | "classifier"; the `melwave train KIND`
    # command that runs it (commands refuse a config whose recipe makes something else).
    trains: ClassVar[str] = ""

    def __init__(self, config: RunConfig, context: RecipeContext):
        self.config = config          # the resolved run config
        self.context = context
        self.device = context.device
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}

    # --- building -------------------------------------------------------------------------
    @abc.abstractmethod
    def build(self) -> None:
        """Create modules (on self.device), optimizers and schedulers."""

    def wrap(self, wrap_module: Callable[[nn.Module], nn.Module]) -> None:
        """Wrap the modules that are trained with data parallelism. Called once, after any
        checkpoint was restored. The default wraps every module that has trainable parameters."""
        for key, module in list(self.modules.items()):
            if any(p.requires_grad for p in module.parameters()):
                self.modules[key] = wrap_module(module)

    # --- helpers recipes share (optimiser basics come from the `train:` section) -----------
    def make_optimizer(self, parameters: Iterable[nn.Parameter], learning_rate: float | None = None) -> torch.optim.Optimizer:
        """AdamW with the run's learning rate, betas and weight decay."""
        train = self.config.train
        return torch.optim.AdamW(list(parameters), lr=learning_rate if learning_rate is not None else train.learning_rate,
                                 betas=tuple(train.betas), weight_decay=train.weight_decay)

    def make_scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.ExponentialLR:
        """Exponential decay by train.lr_decay, stepped every train.lr_decay_every steps by
        `step_schedulers` (HiFi-GAN decays 0.999 per epoch)."""
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.config.train.lr_decay)

    def step_schedulers(self, state: TrainState, names: Iterable[str] | None = None) -> None:
        """Call once at the end of each train_step (state.step is the step being completed,
        0-based); `names` limits it to the schedulers of optimizers that stepped."""
        if (state.step + 1) % self.config.train.lr_decay_every == 0:
            for name in (self.schedulers if names is None else names):
                self.schedulers[name].step()

    def autocast(self) -> torch.autocast:
        """Context for forward passes: bf16 autocast when train.precision is bf16, or auto on a
        device with fast bf16 (`fast_bf16`)."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                              enabled=resolved_precision(self.config.train.precision, self.device) == "bf16")

    def clip_gradients(self, module: nn.Module) -> float:
        """Clip to train.grad_clip (if set); returns the gradient norm before clipping."""
        params = [p for p in module.parameters() if p.grad is not None]
        if not params:
            return 0.0
        limit = self.config.train.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(params, limit if limit is not None else float("inf"))
        return float(norm)

    # --- data -----------------------------------------------------------------------------
    @abc.abstractmethod
    def datasets(self, data_dir: str | Path | None) -> tuple[torch.utils.data.Dataset, torch.utils.data.Dataset | None]:
        """(training dataset, validation dataset or None) for the data the user pointed at (None: no
        --data given; recipes that need data refuse in one line)."""

    def collate(self, items: list[Any]) -> Any:
        """Batch a list of dataset items (default: torch's default_collate)."""
        return torch.utils.data.default_collate(items)

    # --- stepping -------------------------------------------------------------------------
    @abc.abstractmethod
    def train_step(self, batch: Any, state: TrainState) -> dict[str, float]:
        """One optimisation step on `batch` (already on self.device). Returns scalar metrics as
        Python floats (losses, grad norms, learning rates); any non-finite one stops training."""

    @abc.abstractmethod
    def validate(self, batches: Iterable[Any], state: TrainState) -> Validation:
        """Evaluate on held-out batches (called on the main process only, under no_grad)."""

    # --- products -------------------------------------------------------------------------
    @abc.abstractmethod
    def export_model(self) -> nn.Module:
        """The model users load afterwards (a registered family with `config` and `mel_config`),
        ready for `melwave.models.io.model_file.save_model` (e.g. weight norm folded, EMA weights)."""

    def extra_state(self) -> dict[str, Any]:
        """Anything else to checkpoint (tensors and primitives only, e.g. EMA weights)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `extra_state` returned."""

    def init_from(self, source: str) -> None:
        """Start from pretrained weights (`--init NAME|PATH`); recipes that can't, refuse."""
        from melwave.errors import ConfigError

        raise ConfigError(f"recipe '{self.name}' cannot initialise from pretrained weights ({source!r})")


def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast speeds training up on `device`: a GPU that supports bf16, or a CPU with
    AMX tiles (measured here: a WGAN-GP and a flow-matching step both ran 2× faster under bf16 on
    an AMX CPU; without AMX, bf16 convolutions are emulated and slower)."""
    try:
        if device.type == "cuda":
            return bool(torch.cuda.is_bf16_supported())
        return device.type == "cpu" and bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # an older torch without the probe: stay with fp32
        return False


def resolved_precision(precision: str, device: torch.device) -> str:
    """train.precision as run on `device`: "auto" becomes bf16 where `fast_bf16`, else fp32."""
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    return precision


_RECIPES: dict[str, type[Recipe]] = {}


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator: make a recipe selectable by `recipe.name` in run configs."""
    _RECIPES[cls.name] = cls
    return cls


def get_recipe(name: str) -> type[Recipe]:
    from melwave.errors import ConfigError
    import melwave.train.recipes  # noqa: F401  (registers the built-in recipes)

    from melwave.utils.safe_config import short_repr

    if not isinstance(name, str) or name not in _RECIPES:
        raise ConfigError(f"recipe.name={short_repr(name)}: unknown recipe; known: {sorted(_RECIPES)}")
    return _RECIPES[name]


def require_trains(config: RunConfig, kind: str, *, where: str) -> None:
    """Refuse a run config whose recipe does not produce a `kind` (what `melwave train KIND` checks)."""
    from melwave.errors import ConfigError

    if get_recipe(config.recipe.name).trains != kind:
        fitting = sorted(name for name, cls in _RECIPES.items() if cls.trains == kind)
        raise ConfigError(f"{where}: recipe.name={config.recipe.name!r} does not train a {kind}; "
                          f"expected one of {fitting}")
