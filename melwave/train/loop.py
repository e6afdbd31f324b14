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
from melwave.train.budget import StopSignals, TrainingInterrupted
from melwave.train.config import UNTIL_DEADLINE, RunConfig, parse_run_config, read_yaml
from melwave.train.recipe import Recipe, RecipeContext, get_recipe, resolved_precision, unwrap
from melwave.train.state import TrainState
from melwave.utils.durations import format_duration
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
          init: str | None = None, on_finish: Callable[[Recipe, TrainState], None] | None = None,
          max_seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> Path:
    """Train `config`'s recipe on `data_dir`, writing the run to `run_dir`. Returns run_dir.

    `on_finish(recipe, state)` is called on every rank after the last step (before the process
    group closes), e.g. to inspect the trained modules.

    `max_seconds` (`--max-time`): this session stops after the first step that ends that long after
    it started (data loading included), with a checkpoint, as if train.steps had been reached.
    SIGINT/SIGTERM stop after the current step too, with a checkpoint, and then raise
    `budget.TrainingInterrupted` (a second signal aborts at once). `clock` is the time source of
    both the budget and every reported duration (tests pass a fake one).
    """
    run_dir = Path(run_dir)
    if max_seconds is not None and not max_seconds > 0:
        raise ConfigError(f"max_seconds={max_seconds!r}: expected a duration above zero")
    info = dist_utils.init_distributed(config.train.device)
    try:
        return _train(config, data_dir, run_dir, info, resume=resume, init=init, on_finish=on_finish,
                      session=Session(clock, max_seconds))
    finally:
        dist_utils.shutdown(info)


class Session:
    """This run of the command: when it started, its optional budget, and the time it adds to the
    run's total (TrainState.seconds, summed over the sessions that wrote a checkpoint)."""

    def __init__(self, clock: Callable[[], float], max_seconds: float | None):
        self.clock, self.max_seconds = clock, max_seconds
        self.started = clock()
        self.first_step = 0          # state.step when this session began training
        self.previous_seconds = 0.0  # the run's total before this session

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self) -> float:
        """Seconds until the budget is spent (inf without one)."""
        return self.max_seconds - self.elapsed() if self.max_seconds is not None else math.inf

    def total(self) -> float:
        return self.previous_seconds + self.elapsed()


def _train(config: RunConfig, data_dir: str | Path | None, run_dir: Path, info: dist_utils.DistributedInfo, *, resume: bool, init: str | None,
           on_finish=None, session: Session) -> Path:
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
        return _run(config, data_dir, run_dir, info, resume=resume, init=init, on_finish=on_finish, session=session)
    finally:
        if handler is not None:
            logging.getLogger("melwave").removeHandler(handler)
            handler.close()


def _run(config: RunConfig, data_dir: str | Path | None, run_dir: Path, info: dist_utils.DistributedInfo, *, resume: bool, init: str | None,
         on_finish=None, session: Session) -> Path:
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

    session.first_step = state.step
    session.previous_seconds = state.seconds if latest is not None else 0.0
    state.sessions += 1

    log.info("loading the training data%s ...", f" from {data_dir}" if data_dir is not None else "")
    loading = session.clock()
    train_set, val_set = recipe.datasets(data_dir)
    log.info("data ready in %.1f s: %d training examples%s", session.clock() - loading, len(train_set),
             f", {len(val_set)} validation clips" if val_set is not None else "")
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
        budget = f" or {format_duration(session.max_seconds)} (--max-time), whichever comes first" \
            if session.max_seconds is not None and train_cfg.steps < UNTIL_DEADLINE else \
            f" for {format_duration(session.max_seconds)} (--max-time)" if session.max_seconds is not None else ""
        steps = f" up to step {train_cfg.steps}" if train_cfg.steps < UNTIL_DEADLINE else ""
        log.info("training %s (%s)%s%s on %s x%d (%s); parameters: %s", config.model.family, config.recipe.name, steps,
                 budget, info.device, info.world_size, resolved_precision(train_cfg.precision, info.device),
                 ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in n_params.items()))
        skipped = list(getattr(train_set, "problems", [])) + list(getattr(val_set, "problems", []))
        if skipped:
            log.warning("%d file(s) could not be read and were skipped (listed above)", len(skipped))

    last_checkpoint = latest[0] if latest else None
    saved_step = state.step if latest is not None else None

    def checkpoint() -> Path | None:
        state.seconds = session.total()
        return save(recipe, state, config, run_dir, info)

    clock = session.clock
    window_start, window_steps = clock(), 0
    stopped: str | None = None  # why the session ended before train.steps: "deadline" | "signal"
    with StopSignals() as signals:
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

                # The session's first step is reported at once: a first line within seconds, not
                # after log_every steps (which can be minutes on a CPU).
                first = state.step == session.first_step + 1
                if info.is_main and (state.step % train_cfg.log_every == 0 or state.step == train_cfg.steps or first):
                    now = clock()
                    rate = window_steps / max(now - window_start, 1e-9)
                    log.info("%s | %s | %.2f steps/s | %s", _progress(state.step, train_cfg.steps),
                             " ".join(f"{k}={v:.4g}" for k, v in metrics.items()), rate,
                             _eta(train_cfg.steps - state.step, rate, session.left()))
                    for key, value in metrics.items():
                        writer.add_scalar(f"train/{key}", value, state.step)
                    writer.add_scalar("train/steps_per_second", rate, state.step)
                    window_start, window_steps = now, 0

                paused = clock()  # validation and checkpoints don't count against steps/s
                if train_cfg.validate_every and state.step % train_cfg.validate_every == 0 and val_set is not None:
                    validate(recipe, val_set, state, writer, info)
                if state.step % train_cfg.checkpoint_every == 0 or state.step == train_cfg.steps:
                    last_checkpoint = checkpoint() or last_checkpoint
                    saved_step = state.step
                window_start += clock() - paused
                # Every rank must agree to stop (a collective per step only when distributed).
                if dist_utils.any_true(signals.received is not None or session.left() <= 0, info):
                    stopped = "signal" if signals.received is not None else "deadline"
                    break
            if stopped is not None and saved_step != state.step:
                last_checkpoint = checkpoint() or last_checkpoint
        finally:
            if writer is not None:
                writer.close()
    signal_name = StopSignals.name(signals.received) if stopped == "signal" else ""
    if info.is_main:
        if saved_step != state.step:  # a session that ended without a checkpoint still exports
            export(recipe, run_dir, state)
        if stopped == "deadline":
            log.info("--max-time %s reached after step %d", format_duration(session.max_seconds), state.step)
        elif stopped == "signal":
            log.info("stopped by %s after step %d; checkpoint: %s (continue with --resume)", signal_name, state.step,
                     last_checkpoint)
        log.info("done: %s; model: %s", _summary(state, session), run_dir / "model.safetensors")
    if stopped == "signal":
        raise TrainingInterrupted(signals.received, f"stopped by {signal_name} after step {state.step}")
    if on_finish is not None:
        on_finish(recipe, state)
    return run_dir


def _progress(step: int, steps: int) -> str:
    return f"step {step}" if steps >= UNTIL_DEADLINE else f"step {step}/{steps}"


def _eta(steps_left: int, rate: float, seconds_left: float) -> str:
    """What ends the session first, and when: the last step or the time budget."""
    by_steps = steps_left / rate if rate > 0 else math.inf
    if seconds_left < by_steps:
        return f"{format_duration(max(seconds_left, 0.0))} left (--max-time)"
    return f"ETA {format_duration(by_steps)}"


def _summary(state: TrainState, session: Session) -> str:
    """This session's steps and time, and (after a resume) the run's totals over every session."""
    steps = state.step - session.first_step
    mine = f"{steps} step{'s' * (steps != 1)} in {format_duration(session.elapsed())}"
    if state.sessions <= 1:
        return mine
    span = f"step {state.step}" if steps == 1 else f"steps {session.first_step + 1}-{state.step}"
    return (f"{mine} this session ({span}); in all {state.step} steps in "
            f"{format_duration(session.total())} over {state.sessions} sessions")


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
