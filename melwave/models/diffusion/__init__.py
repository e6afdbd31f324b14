"""Noise schedules for diffusion vocoders, kept apart from the networks (diffusers-style)."""

from melwave.models.diffusion.schedule import NoiseSchedule, NoiseScheduleConfig, cosine_betas, linear_betas

__all__ = ["NoiseSchedule", "NoiseScheduleConfig", "cosine_betas", "linear_betas"]
