"""Can a run write its artifact folder? Checked before training starts, and a failed write named.

A run that cannot write its folder (a read-only or full disk, a path that is a file) must fail
with a message naming the folder, before any model is registered or activated. The runners call
`artifact_dir_ready` first (a folder that cannot be made or written fails at once, before any
compute is spent) and train inside `artifact_writes`, which turns a write error met later (the
disk filled up during training, at a checkpoint or at the final save) into the same error. The
dataset snapshot uses the same two for its folder.
"""

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Errors that only a write raises: always the artifact folder's (a runner reads nothing there
# that it did not write).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
# Errors a read can raise too: the folder's only when they name a path inside it (or none).
_PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENOTDIR, errno.EISDIR}
# What libraries that write through their own I/O raise instead of an OSError: torch.save
# (a RuntimeError: "PytorchStreamWriter failed writing file", "unexpected pos" at
# inline_container.cc), safetensors ("StorageFull").
_WRITE_MESSAGES = ("No space left on device", "StorageFull", "Read-only file system", "PytorchStreamWriter",
                   "file write failed", "inline_container")


class ArtifactWriteError(Exception):
    """A folder could not be written; the message names it and the cause."""

    def __init__(self, folder: Path | str, cause: BaseException, *, what: str = "the run's artifacts",
                 outcome: str = "nothing was registered or activated"):
        self.folder = str(folder)
        self.cause = cause
        super().__init__(f"cannot write {what} to {self.folder}: {_reason(self.folder, cause)}; {outcome}")


def _reason(folder: str, cause: BaseException) -> str:
    if not isinstance(cause, OSError) or cause.errno is None:
        return f"{type(cause).__name__}: {cause}"
    filename = os.fsdecode(cause.filename) if cause.filename else ""
    if cause.errno == errno.EEXIST and filename == folder:
        return "that path is a file, not a folder"
    if cause.errno == errno.ENOTDIR:
        return f"a part of {filename or 'that path'} is a file, not a folder"
    where = f" ({filename})" if filename and filename != folder else ""
    return f"{os.strerror(cause.errno)}{where}"


def _inside(path: object, folder: Path) -> bool:
    try:
        return Path(os.fsdecode(path)).resolve().is_relative_to(folder.resolve())  # type: ignore[arg-type]
    except (TypeError, ValueError, OSError):
        return False


def is_artifact_write_error(error: BaseException, folder: Path | str) -> bool:
    if isinstance(error, OSError) and error.errno is not None:
        if error.errno in _WRITE_ERRNOS:
            return True
        return error.errno in _PATH_ERRNOS and (error.filename is None or _inside(error.filename, Path(folder)))
    return isinstance(error, RuntimeError | OSError) and any(m in str(error) for m in _WRITE_MESSAGES)


def artifact_dir_ready(folder: Path | str, **message: str) -> Path:
    """Make the folder (and its parents), write, sync and delete a small file in it.
    ArtifactWriteError (``message``: its ``what`` and ``outcome``) if any of that fails."""
    folder = Path(folder)
    probe = folder / f".write-check-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as out:
            out.write(b"preflab write check\n")
            out.flush()
            os.fsync(out.fileno())
        probe.unlink()
    except OSError as exc:
        raise ArtifactWriteError(folder, exc, **message) from exc
    return folder


@contextmanager
def artifact_writes(folder: Path | str, **message: str) -> Iterator[None]:
    """Inside: a write error in the folder (see `is_artifact_write_error`) becomes an
    ArtifactWriteError (``message``: its ``what`` and ``outcome``)."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if is_artifact_write_error(exc, folder):
            raise ArtifactWriteError(folder, exc, **message) from exc
        raise
