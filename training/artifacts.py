"""Artifacts (adapters, frozen datasets) through Django's storage API, so a worker on another
machine finds what one machine made. Rows store a storage key ("runs/12",
"datasets/3/dataset.jsonl"). Runs write under ARTIFACT_DIR/<key> as before; `artifact_publish`
copies the folder into the `artifacts` storage (nothing to do on the default, which *is* that
folder); `artifact_materialize` gives a local path to load from: the file-system storage's own
file, or a copy downloaded once into ARTIFACT_DIR/cache. Rows written before keys hold absolute
paths: those still load where the files are."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

# Resumable training state stays on the machine that trains; loaders never read it.
SKIP_PARTS = ("checkpoints",)


class ArtifactDirStorage(FileSystemStorage):
    """The default `artifacts` storage: FileSystemStorage at settings.ARTIFACT_DIR, read at each
    use (tests and `serve` move ARTIFACT_DIR after the storage was made), overwriting on save
    (a resumed run publishes its folder again)."""

    def __init__(self, location: str | None = None, **kwargs):
        kwargs.setdefault("allow_overwrite", True)
        super().__init__(location=location, **kwargs)

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return self._value_or_setting(self._location, str(settings.ARTIFACT_DIR))

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)


class ArtifactMissing(FileNotFoundError):
    """An artifact that is neither on this machine nor in the artifact storage. An OSError, so
    callers that answer 'files missing' (the score API's 503) treat it alike."""


def artifact_storage() -> Storage:
    return storages["artifacts"]


def storage_label(storage: Storage) -> str:
    """Where a storage keeps its files, for error messages: a folder, or s3://bucket/prefix at an endpoint."""
    if isinstance(storage, FileSystemStorage):
        return f"file system at {storage.location}"
    bucket = getattr(storage, "bucket_name", None)
    if bucket:
        prefix = getattr(storage, "location", "")
        endpoint = getattr(storage, "endpoint_url", None)
        return f"s3://{bucket}/{prefix}".rstrip("/") + (f" at {endpoint}" if endpoint else "")
    return type(storage).__name__


def run_key(run_id: int) -> str:
    """The key of a training run's folder (its adapter, configs, tokenizer)."""
    return f"runs/{run_id}"


def run_local_dir(run_id: int) -> Path:
    """Where a run writes on the machine that trains it."""
    return Path(settings.ARTIFACT_DIR) / run_key(run_id)


def _clean_key(key: str) -> str:
    parts = [p for p in str(key).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"not an artifact key: {key!r}")
    return "/".join(parts)


def _local_root(storage: Storage) -> Path | None:
    return Path(storage.location) if isinstance(storage, FileSystemStorage) else None


def _files_under(local_dir: Path, skip: Iterable[str]) -> list[Path]:
    skip = set(skip)
    return sorted(p for p in local_dir.rglob("*")
                  if p.is_file() and not skip.intersection(p.relative_to(local_dir).parts))


def artifact_publish(*, local_dir: str | Path, key: str, skip: Iterable[str] = SKIP_PARTS) -> str:
    """Copy every file under ``local_dir`` (but folders named in ``skip``) to ``key`` in the
    artifact storage; returns the key, which is what rows store. Publish before the row that
    names the key is written, so no reader finds a half-uploaded artifact."""
    key, local_dir = _clean_key(key), Path(local_dir)
    storage = artifact_storage()
    root = _local_root(storage)
    if root is not None and (root / key).resolve() == local_dir.resolve():
        return key  # the storage is this folder
    files = _files_under(local_dir, skip)
    if not files:
        raise ArtifactMissing(f"nothing to publish under {local_dir} (artifact {key!r})")
    for path in files:
        name = f"{key}/{path.relative_to(local_dir).as_posix()}"
        with path.open("rb") as fh:
            saved = storage.save(name, File(fh, name=path.name))
        if saved != name:  # a storage that renames instead of overwriting would break the key
            raise RuntimeError(f"{storage_label(storage)} saved {name!r} as {saved!r}; configure it to overwrite")
    return key


def _key_of(ref: str) -> str | None:
    """The key of an absolute path under this machine's ARTIFACT_DIR (rows from before keys)."""
    try:
        return Path(ref).resolve().relative_to(Path(settings.ARTIFACT_DIR).resolve()).as_posix()
    except ValueError:
        return None


def _resolve(ref: str | Path) -> tuple[Path | None, str | None]:
    """(a local path that exists, None) or (None, the storage key to look up)."""
    ref = str(ref)
    if not ref:
        raise ArtifactMissing("no artifact given (an empty path or key)")
    if os.path.isabs(ref):
        if Path(ref).exists():
            return Path(ref), None
        key = _key_of(ref)
        if key is None:
            raise ArtifactMissing(f"{ref}: no such file or folder on this machine (and not under ARTIFACT_DIR)")
        return None, key
    return None, _clean_key(ref)


def artifact_exists(ref: str | Path) -> bool:
    """Whether an artifact file (or, on a file system, a folder) is there, without downloading it."""
    path, key = _resolve(ref)
    if path is not None:
        return True
    storage = artifact_storage()
    root = _local_root(storage)
    return (root / key).exists() if root is not None else storage.exists(key)


def _walk(storage: Storage, prefix: str) -> list[str]:
    """Every file name under ``prefix``, relative to it."""
    try:
        folders, files = storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = list(files)
    for folder in folders:
        out += [f"{folder}/{name}" for name in _walk(storage, f"{prefix}/{folder}")]
    return out


def _download(storage: Storage, name: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with storage.open(name, "rb") as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def artifact_materialize(ref: str | Path) -> Path:
    """A local path holding the artifact ``ref`` (a key, or an absolute path from an older row).
    From a remote storage the artifact is downloaded once into ARTIFACT_DIR/cache (into a temp
    name, then renamed: a reader never sees half a folder, and two processes racing both end
    with a whole one). ArtifactMissing names the key and the storage."""
    path, key = _resolve(ref)
    if path is not None:
        return path
    storage = artifact_storage()
    root = _local_root(storage)
    if root is not None:
        if (root / key).exists():
            return root / key
        raise ArtifactMissing(f"artifact {key!r} is not in the artifact storage ({storage_label(storage)})")
    # One flat name per key: "runs/5" and "runs/5/value" must not nest inside each other.
    cached = Path(settings.ARTIFACT_DIR) / "cache" / quote(key, safe="")
    if cached.exists():
        return cached
    files = _walk(storage, key)
    if not files and not storage.exists(key):
        raise ArtifactMissing(f"artifact {key!r} is not in the artifact storage ({storage_label(storage)})")
    tmp = cached.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        if files:
            for name in files:
                _download(storage, f"{key}/{name}", tmp / name)
        else:
            _download(storage, key, tmp)
        try:
            os.rename(tmp, cached)
        except OSError:
            if not cached.exists():  # not a lost race with another process
                raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
    return cached
