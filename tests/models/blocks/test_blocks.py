import math

import pytest
import torch

from melwave.models.blocks import (
    AntiAliasedActivation, ConvNeXtBlock, DownSample1d, FiLM, Snake, SnakeBeta, UpSample1d, film,
    kaiser_sinc_filter,
)


def _sine(freq: float, n: int, offset: float = 0.0) -> torch.Tensor:
    return torch.sin(2 * math.pi * freq * (torch.arange(n, dtype=torch.float32) + offset) + 0.3)


@pytest.mark.float_sensitive
def test_snake_formula():
    x = torch.randn(2, 3, 10)
    snake = Snake(3, alpha=2.0)
    torch.testing.assert_close(snake(x), x + torch.sin(2 * x) ** 2 / 2)
    beta = SnakeBeta(3, alpha=1.0)
    with torch.no_grad():
        beta.beta.fill_(4.0)
    torch.testing.assert_close(beta(x), x + torch.sin(x) ** 2 / 4)
    # log-scale storage: alpha = exp(param) = 1 at init
    torch.testing.assert_close(Snake(3, log_scale=True)(x), x + torch.sin(x) ** 2, atol=1e-6, rtol=1e-6)


@pytest.mark.float_sensitive
def test_kaiser_sinc_is_a_unit_gain_symmetric_lowpass():
    h = kaiser_sinc_filter(0.25, 0.3, 12).double()
    assert h.shape == (12,)
    torch.testing.assert_close(h.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(h, h.flip(0))
    response = torch.fft.rfft(h, n=1024).abs()
    freqs = torch.fft.rfftfreq(1024)
    assert response[freqs < 0.05].min() > 0.97  # passband
    assert response[freqs > 0.45].max() < 0.05  # stopband near the high-rate Nyquist
    with pytest.raises(ValueError):
        kaiser_sinc_filter(0.25, 0.3, 11)


def test_up_then_down_is_delay_free_on_band_limited_signals():
    x = _sine(0.03, 400)[None, None]
    up = UpSample1d()(x)
    assert up.shape[-1] == 800
    # Upsampled samples sit on the half-sample grid, a quarter sample early (even filter);
    # the downsampler's quarter sample cancels it.
    grid = torch.sin(2 * math.pi * 0.03 * (torch.arange(800) / 2 - 0.25) + 0.3)
    assert (up[0, 0, 40:-40] - grid[40:-40]).abs().max() < 5e-3
    down = DownSample1d()(up)
    assert down.shape == x.shape
    assert (down - x)[..., 20:-20].abs().max() < 2e-3


class _Cube(torch.nn.Module):
    def forward(self, x):
        return x**3


def test_anti_aliasing_suppresses_folded_harmonics():
    # A cubic nonlinearity on a 0.3-cycle sine makes a 0.9-cycle harmonic, which aliases to 0.1
    # at the base rate. Running at 2x and low-passing removes most of it (12-tap filters, so
    # not all: BigVGAN trades stopband depth for speed).
    x = _sine(0.3, 2048)[None, None]
    plain = _Cube()(x)[0, 0]
    smooth = AntiAliasedActivation(_Cube())(x)[0, 0]

    def magnitude_at(signal, freq):
        spectrum = torch.fft.rfft(signal[256:-256] * torch.hann_window(1536))
        return spectrum.abs()[round(freq * 1536)].item()

    assert magnitude_at(smooth, 0.1) < 0.2 * magnitude_at(plain, 0.1)
    assert magnitude_at(smooth, 0.3) > 0.8 * magnitude_at(plain, 0.3)


@pytest.mark.float_sensitive
def test_film_and_convnext_shapes():
    x, cond = torch.randn(2, 6, 11), torch.randn(2, 4, 11)
    layer = FiLM(4, 6)
    scale, shift = torch.chunk(layer.proj(cond), 2, dim=1)
    torch.testing.assert_close(layer(x, cond), x * (1 + 0.01 * scale) + shift)
    torch.testing.assert_close(film(x, torch.zeros_like(x), torch.zeros_like(x)), x)
    assert ConvNeXtBlock(6, 12, layer_scale_init=0.1)(x).shape == x.shape
