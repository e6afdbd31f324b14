"""A self-contained HTML listening report: one folder with index.html, audio/ and images/.

Layout: title and notes, the summary table(s), then either one row per clip (the reference and
each model's output side by side, each with an <audio> player and its mel image) or, for
generators, a grid of samples per condition value. No external resources: it opens from disk,
offline, in any browser.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from melwave.audio.config import PRESETS, MelConfig
from melwave.audio.features import mel_spectrogram
from melwave.audio.io import resample, save_audio
from melwave.errors import OutputExistsError
from melwave.metrics.fid import ImageStyle, render_mel_image
from melwave.utils.fileio import atomic_path, atomic_write_bytes
from melwave.utils.optional import require

IMAGE_CONFIG = PRESETS["hifigan-22k"]  # every clip is pictured with one analysis, so images compare
IMAGE_STYLE = ImageStyle(cmap="magma", scale="db", vmin=-70.0, vmax=50.0, size=(160, 400))
GRID_STYLE = ImageStyle(cmap="magma", scale="db", vmin=-70.0, vmax=50.0, size=(64, 96))  # one cell of a grid

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table.summary{border-collapse:collapse;margin:.6em 0;font-size:.92em}
table.summary th,table.summary td{border:1px solid #bbb;padding:.25em .6em;text-align:right}
table.summary th:first-child,table.summary td:first-child{text-align:left}
table.summary td.best{font-weight:bold;background:#e6f4e6}
.row{display:flex;flex-wrap:nowrap;overflow-x:auto;gap:.8em;margin:.5em 0 1.2em}
figure.entry{flex:0 0 auto}
figure.entry{margin:0;padding:.4em;background:#fff;border:1px solid #ddd;border-radius:4px;width:330px}
figure.entry img{display:block;width:320px;height:128px}
figure.entry audio{width:320px;margin-top:.3em}
figcaption{font-size:.85em}figcaption .metrics{color:#555}
p.note{color:#555;font-size:.9em}
figure.picture{margin:.5em 0 1.2em}figure.picture img{max-width:100%;image-rendering:pixelated}
"""


# After loading, the page records on <body> how many images decoded and how many players found
# their audio (data-images-ok / data-audio-ok): a headless browser's DOM dump then shows whether
# every file the report links really loads.
_SELF_CHECK = """
function melwaveCheck(){
  var imgs=[].slice.call(document.images), auds=[].slice.call(document.querySelectorAll('audio'));
  document.body.dataset.imagesTotal=imgs.length;
  document.body.dataset.imagesOk=imgs.filter(function(i){return i.complete&&i.naturalWidth>0;}).length;
  document.body.dataset.audioTotal=auds.length;
  document.body.dataset.audioOk=auds.filter(function(a){return a.readyState>=1&&!a.error;}).length;
}
window.addEventListener('load',melwaveCheck);
document.querySelectorAll('audio').forEach(function(a){a.addEventListener('loadedmetadata',melwaveCheck);});
"""


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "item"


def mel_grid(rows: Sequence[Sequence[torch.Tensor | None]], cfg: MelConfig, style: ImageStyle = GRID_STYLE,
             gap: int = 3) -> np.ndarray:
    """(H, W, 3) uint8 picture of mels (n_mels, frames) in rows × columns, white gaps between; a
    None cell (a row with fewer samples) stays white."""
    height, width = style.size
    columns = max(len(row) for row in rows)
    picture = np.full((len(rows) * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, mel in enumerate(row):
            if mel is not None:
                top, left = r * (height + gap), c * (width + gap)
                picture[top:top + height, left:left + width] = render_mel_image(mel, cfg, style)
    return picture


def format_value(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
    return html.escape(str(value))


@dataclass
class Entry:
    """One playable item: caption, files relative to the report root, and a few numbers."""

    label: str
    audio: str | None
    image: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Table:
    caption: str
    headers: list[str]
    rows: list[list]
    higher_is_better: dict[str, bool] = field(default_factory=dict)


class HtmlReport:
    def __init__(self, root: str | Path, title: str, *, overwrite: bool = False):
        self.root = Path(root)
        if (self.root / "index.html").exists() and not overwrite:
            raise OutputExistsError(f"{self.root}: a report is already there (pass --overwrite to replace it)")
        (self.root / "audio").mkdir(parents=True, exist_ok=True)
        (self.root / "images").mkdir(parents=True, exist_ok=True)
        self.title = title
        self.notes: list[str] = []
        self.tables: list[Table] = []
        self.sections: list[tuple[str, list[tuple[str, list[Entry]]]]] = []
        self.pictures: list[tuple[str, str, str]] = []  # (title, image path, caption)
        self._used: set[str] = set()

    def _unique(self, stem: str, suffix: str) -> str:
        name = f"{slug(stem)}{suffix}"
        index = 1
        while name in self._used:
            index += 1
            name = f"{slug(stem)}-{index}{suffix}"
        self._used.add(name)
        return name

    def add_image(self, stem: str, mel: torch.Tensor, cfg: MelConfig, style: ImageStyle = IMAGE_STYLE) -> str:
        """Write a mel (n_mels, frames) as PNG; returns its path relative to the report."""
        name = "images/" + self._unique(stem, ".png")
        image = require("PIL.Image", "the HTML report's mel images").fromarray(render_mel_image(mel, cfg, style))
        with atomic_path(self.root / name, overwrite=True) as tmp:
            image.save(tmp, format="PNG")
        return name

    def add_audio(self, stem: str, wave: np.ndarray, sample_rate: int, *, image: bool = True) -> tuple[str, str | None]:
        """Write a waveform as 16-bit WAV plus (unless image=False) its mel image; returns the
        (audio, image) paths relative to the report."""
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)
        audio = "audio/" + self._unique(stem, ".wav")
        save_audio(self.root / audio, wave, sample_rate, overwrite=True)
        if not image:
            return audio, None
        at_image_rate = resample(wave, sample_rate, IMAGE_CONFIG.sample_rate)
        if len(at_image_rate) < IMAGE_CONFIG.min_samples():
            at_image_rate = np.pad(at_image_rate, (0, IMAGE_CONFIG.min_samples() - len(at_image_rate)))
        return audio, self.add_image(stem, mel_spectrogram(at_image_rate, IMAGE_CONFIG), IMAGE_CONFIG)

    def add_picture(self, title: str, picture: np.ndarray, caption: str = "") -> str:
        """A titled (H, W, 3) uint8 picture shown after the tables (e.g. `mel_grid`); returns its path."""
        name = "images/" + self._unique(title, ".png")
        image = require("PIL.Image", "the HTML report's images").fromarray(np.asarray(picture, dtype=np.uint8))
        with atomic_path(self.root / name, overwrite=True) as tmp:
            image.save(tmp, format="PNG")
        self.pictures.append((title, name, caption))
        return name

    def table(self, table: Table) -> None:
        self.tables.append(table)

    def section(self, title: str, groups: Sequence[tuple[str, list[Entry]]]) -> None:
        """A titled section; each group (a clip, or a condition value) is one row of entries."""
        self.sections.append((title, list(groups)))

    # --- rendering ------------------------------------------------------------------------
    def _table_html(self, table: Table) -> str:
        best: dict[int, int] = {}
        for column, header in enumerate(table.headers):
            if header in table.higher_is_better:
                values = [(row[column], r) for r, row in enumerate(table.rows)
                          if isinstance(row[column], float) and not math.isnan(row[column])]
                if len(values) > 1:
                    pick = max if table.higher_is_better[header] else min
                    best[column] = pick(values)[1]
        head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
        body = []
        for r, row in enumerate(table.rows):
            cells = "".join(("<td class=\"best\">" if best.get(c) == r else "<td>") + f"{format_value(v)}</td>"
                            for c, v in enumerate(row))
            body.append(f"<tr>{cells}</tr>")
        return (f"<table class=\"summary\"><caption>{html.escape(table.caption)}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>")

    @staticmethod
    def _entry_html(entry: Entry) -> str:
        metrics = ", ".join(f"{html.escape(k)} {format_value(v)}" for k, v in entry.metrics.items())
        audio = (f"<audio controls preload=\"metadata\" src=\"{html.escape(entry.audio)}\"></audio>" if entry.audio else "")
        return (f"<figure class=\"entry\"><img src=\"{html.escape(entry.image)}\" alt=\"mel of {html.escape(entry.label)}\">"
                f"{audio}<figcaption><b>{html.escape(entry.label)}</b> <span class=\"metrics\">{metrics}</span>"
                f"</figcaption></figure>")

    def render(self) -> str:
        parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}</title>"
                 f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"]
        parts += [f"<p class=\"note\">{html.escape(note)}</p>" for note in self.notes]
        parts += [self._table_html(t) for t in self.tables]
        for title, image, caption in self.pictures:
            parts.append(f"<h2>{html.escape(title)}</h2><figure class=\"picture\"><img src=\"{html.escape(image)}\" "
                         f"alt=\"{html.escape(title)}\"><figcaption>{html.escape(caption)}</figcaption></figure>")
        for title, groups in self.sections:
            parts.append(f"<h2>{html.escape(title)}</h2>")
            for name, entries in groups:
                parts.append(f"<h3>{html.escape(name)}</h3><div class=\"row\">{''.join(self._entry_html(e) for e in entries)}</div>")
        parts.append(f"<script>{_SELF_CHECK}</script></body></html>")
        return "\n".join(parts)

    def write(self) -> Path:
        path = self.root / "index.html"
        atomic_write_bytes(path, self.render().encode("utf-8"), overwrite=True)
        return path
