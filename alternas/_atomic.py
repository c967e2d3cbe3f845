"""Atomic, durable writes: every artefact goes through a temporary name in its own folder.

A writer gets a unique temporary path next to the destination (so concurrent writers never share one),
the finished file (or folder) is flushed to disk with ``fsync``, renamed over the destination with
``os.replace`` and the folder is ``fsync``-ed so that the rename survives a power loss. A reader sees
either the previous version or the new one, never half a file; a writer that fails leaves the
previous version in place and removes its partial file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from .exceptions import StorageError

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "commit",
    "discard",
    "storage_error",
    "temp_name",
]


def temp_name(path: Path) -> Path:
    """A unique hidden temporary name next to ``path`` (``.<name>.<random>.tmp``)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def discard(path: Path) -> None:
    """Remove a partial file or folder, ignoring one that is already gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` (and ``root`` itself) to disk."""
    for folder, _, files in os.walk(root):
        for name in files:
            _fsync(Path(folder) / name)
        _fsync(Path(folder))


def storage_error(error: OSError, path: Path) -> StorageError:
    """The project error for an ``OSError`` raised while writing ``path``, with a hint for a full disk."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "the disk is full (or over quota); free some space and run the command again"
    else:
        hint = "check that the folder exists and is writable"
    return StorageError(f"cannot write `{path}`: {error.strerror or error}; {hint} (the previous version is kept)")


def commit(partial: Path, path: Path) -> None:
    """Flush ``partial`` (a file) to disk and rename it to ``path``, then flush the folder."""
    _fsync(partial)
    os.replace(partial, path)
    _fsync(path.parent)


@contextlib.contextmanager
def _discard_on_error(partial: Path, path: Path) -> Iterator[None]:
    """Remove ``partial`` when the block fails; an ``OSError`` becomes a :class:`StorageError` on ``path``."""
    try:
        yield
    except OSError as error:
        discard(partial)
        raise storage_error(error, path) from error
    except BaseException:
        discard(partial)
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path for a writer (``torch.save``, ``savefig``, ``save_file``) that becomes
    ``path`` when the block ends without an error; on an error the partial file is removed.

    The temporary name ends in ``.tmp``: writers that infer the format from the suffix need it given
    explicitly (``savefig(..., format="png")``).

    Raises:
        StorageError: the file cannot be written (disk full, no permission); the old file is kept.
    """
    path = Path(path)
    partial = temp_name(path)
    with _discard_on_error(partial, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        yield partial
        commit(partial, path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably; returns ``path``.

    Raises:
        StorageError: the file cannot be written (disk full, no permission); the old file is kept.
    """
    path = Path(path)
    with atomic_path(path) as partial:
        with open(partial, "wb") as handle:
            handle.write(data)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and durably; returns ``path``.

    Raises:
        StorageError: the file cannot be written (disk full, no permission); the old file is kept.
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder for a writer (``save_pretrained``, a checkpoint) that replaces the
    folder ``path`` when the block ends without an error; on an error the partial folder is removed.

    An existing folder at ``path`` is moved aside, the new one renamed into place and only then the old
    one deleted: a crash never leaves a half-written folder at ``path``, though it may leave a complete
    one under a hidden ``.<name>.<random>.tmp`` name (the old folder, or the new one not yet renamed).

    Raises:
        StorageError: the folder cannot be written (disk full, no permission); the old folder is kept.
    """
    path = Path(path)
    partial = temp_name(path)
    with _discard_on_error(partial, path):
        partial.mkdir(parents=True)
        yield partial
        _fsync_tree(partial)
        old = temp_name(path) if path.exists() else None
        if old is not None:
            os.replace(path, old)
        try:
            os.replace(partial, path)
        except OSError:
            if old is not None:
                os.replace(old, path)
            raise
        _fsync(path.parent)
    if old is not None:
        discard(old)
