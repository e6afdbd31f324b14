"""Noise schedules for diffusion vocoders and the rectified-flow path of flow generators
(`melwave.models.diffusion.rectified_flow`), kept apart from the networks (diffusers-style)."""

from melwave.models.diffusion.schedule import NoiseSchedule, NoiseScheduleConfig, cosine_betas, linear_betas

__all__ = ["NoiseSchedule", "NoiseScheduleConfig", "cosine_betas", "linear_betas"]
