"""`hf:OWNER/NAME[@REVISION]`: a Hugging Face model repository, read from the local cache.

The cache is the folder `huggingface_hub` writes (and `huggingface-cli download` fills):

    $HF_HUB_CACHE  (else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub)
      models--OWNER--NAME/
        refs/REVISION          the commit a branch or tag points to (REVISION defaults to "main")
        snapshots/COMMIT/...   the repository's files at that commit (links into blobs/)

A repository found there loads with no network and no `huggingface_hub`. One that is not is
downloaded with `huggingface_hub.snapshot_download` only when that package is installed and
HF_HUB_OFFLINE is not set; otherwise (or when the download fails) the error is one line saying
where melwave looked and the command that fetches it.

The snapshot folder then loads like any path (melwave's `model.safetensors`, or the layouts of
`melwave.models.formats`); a snapshot whose folder no layout takes but which holds exactly one
file a layout takes (a bare HiFi-GAN `generator.pth`) loads that file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from melwave.errors import CheckpointError

PREFIX = "hf:"
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_TRUE = {"1", "true", "yes", "on"}


def parse(spec: str) -> tuple[str, str]:
    """"hf:OWNER/NAME[@REVISION]" -> ("OWNER/NAME", REVISION or "main")."""
    body = spec[len(PREFIX):] if spec.startswith(PREFIX) else spec
    repo, _, revision = body.partition("@")
    if not _REPO.match(repo) or ".." in repo or (revision == "" and "@" in body):
        raise CheckpointError(f"{spec}: expected hf:OWNER/NAME or hf:OWNER/NAME@REVISION (a branch, tag or commit)")
    return repo, revision or "main"


def cache_dir() -> Path:
    """The hub cache folder, found as huggingface_hub finds it."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = Path(os.environ["XDG_CACHE_HOME"]).expanduser() if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def cached_snapshot(repo: str, revision: str = "main", cache: Path | None = None) -> Path | None:
    """The snapshot folder of `repo` at `revision` in the cache, or None."""
    folder = (cache or cache_dir()) / ("models--" + repo.replace("/", "--"))
    ref = folder / "refs" / revision
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
    elif _COMMIT.match(revision):
        commit = revision
    else:
        return None
    snapshot = folder / "snapshots" / commit
    if not _COMMIT.match(commit) or not snapshot.is_dir():
        return None
    return snapshot


def fetch_command(repo: str, revision: str) -> str:
    option = "" if revision == "main" else f" --revision {revision}"
    return (f"huggingface-cli download {repo}{option} (or python -c \"from huggingface_hub import snapshot_download; "
            f"snapshot_download('{repo}'{'' if revision == 'main' else f', revision={revision!r}'})\")")


def _download(repo: str, revision: str) -> Path:
    """snapshot_download into the cache; MissingDependency without huggingface_hub."""
    from melwave.utils.optional import require

    hub = require("huggingface_hub", "downloading hf: models")
    try:
        return Path(hub.snapshot_download(repo_id=repo, revision=revision, cache_dir=str(cache_dir())))
    except Exception as err:  # noqa: BLE001 - network, authentication, missing repo: all one line for the user
        raise CheckpointError(f"hf:{repo}@{revision}: not in the cache at {cache_dir()} and the download failed "
                              f"({type(err).__name__}: {' '.join(str(err).split())[:200]}); fetch it with: "
                              f"{fetch_command(repo, revision)}") from None


def model_path(snapshot: Path) -> Path:
    """What to load from a snapshot folder: the folder itself when melwave or a layout takes it,
    else its one loadable file."""
    from melwave.models.formats import detect

    if (snapshot / "model.safetensors").exists() or detect(snapshot) is not None:
        return snapshot
    files = sorted(p for p in snapshot.iterdir() if p.is_file() and (p.suffix == ".safetensors" or detect(p) is not None))
    return files[0] if len(files) == 1 else snapshot


def resolve_hf(spec: str) -> Path:
    """`hf:OWNER/NAME[@REVISION]` -> the path to load (from the cache, downloading if allowed)."""
    from melwave.utils.optional import MissingDependency

    repo, revision = parse(spec)
    snapshot = cached_snapshot(repo, revision)
    if snapshot is None:
        where = f"{cache_dir()}/models--{repo.replace('/', '--')} (revision {revision})"
        if offline():
            raise CheckpointError(f"{spec}: not in the Hugging Face cache at {where} and HF_HUB_OFFLINE is set; "
                                  f"fetch it with: {fetch_command(repo, revision)}")
        try:
            snapshot = _download(repo, revision)
        except MissingDependency as err:
            raise CheckpointError(f"{spec}: not in the Hugging Face cache at {where}, and melwave downloads only with "
                                  f"huggingface_hub ({err.command}); fetch it with: {fetch_command(repo, revision)}") from None
    return model_path(snapshot)
