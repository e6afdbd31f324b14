"""Samples of a generator's held-out combinations (`melwave generate --held-out`).

A generator trained with `recipe.data.holdout` lists, in its model file, the combinations of
condition values it never heard (`model.held_out`). Generating exactly those, `n` times for every
value of the conditions outside them, gives the set its composition is measured on. (Which
combinations are held out of training is chosen in `melwave.data.holdout`.)

    plans = held_out_plans(model, fixed={}, n=4)   # e.g. 44 (instrument, pitch) pairs × 3 velocities × 4
"""

from __future__ import annotations

from typing import Mapping

from melwave.errors import ConfigError
from melwave.inference.generate import SamplePlan, plan_samples


def held_out_plans(model, fixed: Mapping[str, str], *, n: int) -> list[SamplePlan]:
    """`n` samples of every held-out combination × every value of the conditions outside it
    (those in `fixed` stay fixed; a held-out combination that contradicts `fixed` is skipped)."""
    if not model.held_out:
        raise ConfigError(f"--held-out: generator '{getattr(model, 'name', 'model')}' holds no combinations out "
                          "(it was trained without recipe.data.holdout)")
    plans: list[SamplePlan] = []
    for combination in model.held_out:
        if any(fixed.get(name, value) != value for name, value in combination.items()):
            continue
        plans += plan_samples(model, {**fixed, **combination}, n=n, sweep=True)
    if not plans:
        raise ConfigError(f"--held-out: no held-out combination agrees with the fixed conditions {dict(fixed)}")
    return plans
