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

References are checked with the Hub's own rules before any path is built from them, because the
cache encodes `OWNER/NAME` as `models--OWNER--NAME`: a `--` inside a name would alias another
repository's folder (`a--b/c` and `a/b--c` are both `models--a--b--c`), and a revision is a
file name under `refs/`. OWNER and NAME: 1-96 letters, digits, `-`, `_`, `.`, neither starting
nor ending with `-` or `.`, no `--` or `..`, NAME not ending in `.git` (huggingface_hub's
`validate_repo_id`). REVISION: a 40-hex commit, or a branch or tag name as git allows them
(`check-ref-format`), narrowed to letters, digits, `-`, `_`, `.`, `+` and `/`-separated parts
none of which is empty, starts with `.` or ends with `.` or `.lock`; at most 255 characters. The
folder reached is also checked to lie inside the cache.

The snapshot folder then loads like any path (melwave's `model.safetensors`, or the layouts of
`melwave.models.io.formats`); a snapshot whose folder no layout takes but which holds exactly one
file a layout takes (a bare HiFi-GAN `generator.pth`) loads that file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from melwave.errors import CheckpointError

PREFIX = "hf:"
# Patterns are used with fullmatch: `$` would accept a trailing newline.
# One part of a repo id: starts and ends with a letter or digit (or '_'), 1-96 characters.
_PART = re.compile(r"[A-Za-z0-9_]|[A-Za-z0-9_][A-Za-z0-9_.-]{0,94}[A-Za-z0-9_]")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_REF_PART = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]*")
MAX_REVISION_CHARS = 255
# A refs/ file holds one 40-hex commit and a newline; more is not a cache huggingface_hub wrote.
MAX_REF_BYTES = 128
_TRUE = {"1", "true", "yes", "on"}
_USAGE = "expected hf:OWNER/NAME or hf:OWNER/NAME@REVISION (a branch, tag or commit)"


def _shown(text: str, limit: int = 200) -> str:
    """A reference as a one-line message shows it: escaped when it holds a newline or other
    unprintable character."""
    text = text[:limit]
    return text if text.isprintable() else repr(text)


def _repo_problem(repo: str) -> str | None:
    """Why `repo` is not an OWNER/NAME the Hub accepts, or None."""
    parts = repo.split("/")
    if len(parts) != 2:
        return "a repository is OWNER/NAME"
    for part in parts:
        if not _PART.fullmatch(part):
            return (f"{part[:100]!r}: 1-96 letters, digits, '-', '_', '.', not starting or ending with '-' or '.'")
        if "--" in part or ".." in part:
            # '--' is the cache's separator: 'a--b/c' would read the folder of 'a/b--c'.
            return f"{part[:100]!r}: '--' and '..' are not allowed in repository names"
    if parts[1].endswith(".git"):
        return f"{parts[1][:100]!r}: a repository name cannot end with '.git'"
    return None


def _revision_problem(revision: str) -> str | None:
    """Why `revision` is not a commit, branch or tag name that is safe as a path under refs/."""
    if _COMMIT.fullmatch(revision):
        return None
    if len(revision) > MAX_REVISION_CHARS:
        return f"revision of {len(revision)} characters (at most {MAX_REVISION_CHARS})"
    for part in revision.split("/"):
        if not _REF_PART.fullmatch(part) or part.endswith((".", ".lock")) or ".." in part:
            return (f"revision {revision[:100]!r}: a commit (40 hex digits) or a branch or tag name of letters, "
                    f"digits, '-', '_', '.', '+' in '/'-separated parts, without '..', empty parts, or parts "
                    f"starting with '.' or ending with '.' or '.lock'")
    return None


def parse(spec: str) -> tuple[str, str]:
    """"hf:OWNER/NAME[@REVISION]" -> ("OWNER/NAME", REVISION or "main")."""
    body = spec[len(PREFIX):] if spec.startswith(PREFIX) else spec
    repo, at, revision = body.partition("@")
    problem = _repo_problem(repo) or (_revision_problem(revision) if at else None)
    if problem:
        raise CheckpointError(f"{_shown(spec, 300)}: {_USAGE}; {problem}")
    return repo, revision or "main"


def repo_folder(repo: str, cache: Path | None = None) -> Path:
    """The cache folder of a checked OWNER/NAME: models--OWNER--NAME, inside the cache."""
    problem = _repo_problem(repo)
    if problem:
        raise CheckpointError(f"{_shown('hf:' + repo)}: {_USAGE}; {problem}")
    cache = cache or cache_dir()
    folder = cache / ("models--" + repo.replace("/", "--"))
    # The rules above already keep it there; a later edit to them must not open a way out.
    if folder.parent != cache or not folder.name.startswith("models--"):
        raise CheckpointError(f"{_shown('hf:' + repo)}: its cache folder {folder} is not inside {cache}")
    return folder


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
    problem = _revision_problem(revision)
    if problem:
        raise CheckpointError(f"{_shown(f'hf:{repo}@{revision}')}: {_USAGE}; {problem}")
    folder = repo_folder(repo, cache)
    ref = folder / "refs" / revision
    if ref.is_file():
        commit = _read_ref(ref)
    elif _COMMIT.fullmatch(revision):
        commit = revision
    else:
        return None
    snapshot = folder / "snapshots" / commit
    if not _COMMIT.fullmatch(commit) or not snapshot.is_dir():
        return None
    return snapshot


def _read_ref(ref: Path) -> str:
    """The commit a refs/ file names ('' when unreadable or not one commit)."""
    try:
        with open(ref, "rb") as handle:
            data = handle.read(MAX_REF_BYTES + 1)
    except OSError:
        return ""
    if len(data) > MAX_REF_BYTES:
        return ""
    return data.decode("ascii", "replace").strip()


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
    from melwave.models.io.formats import detect

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
        where = f"{repo_folder(repo)} (revision {revision})"
        if offline():
            raise CheckpointError(f"{spec}: not in the Hugging Face cache at {where} and HF_HUB_OFFLINE is set; "
                                  f"fetch it with: {fetch_command(repo, revision)}")
        try:
            snapshot = _download(repo, revision)
        except MissingDependency as err:
            raise CheckpointError(f"{spec}: not in the Hugging Face cache at {where}, and melwave downloads only with "
                                  f"huggingface_hub ({err.command}); fetch it with: {fetch_command(repo, revision)}") from None
    return model_path(snapshot)
