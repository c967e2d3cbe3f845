"""Ray Tune storage on the local disk whose file writes are atomic.

Tune snapshots its experiment state (trials, sampler) into a staging folder and copies it into the run
directory in the background; a driver killed during that copy would leave a truncated
``experiment_state-*.json`` that no resume can read. Here every file is written to a temporary name
and renamed into place when complete (:mod:`alternas._atomic`), so a reader sees either the previous
version or the new one, and a write that fails leaves the previous version.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pyarrow
import pyarrow.fs

from .._atomic import commit, discard, temp_name

__all__ = ["atomic_local_filesystem"]


def atomic_local_filesystem() -> pyarrow.fs.FileSystem:
    """The local file system, with atomic whole-file writes (for ``tune.RunConfig(storage_filesystem=...)``)."""
    return pyarrow.fs.PyFileSystem(_AtomicLocalHandler())


class _AtomicFile:
    """A binary file written under a unique temporary name and renamed to ``path`` (durably) on close.

    A write that failed, or a close while an exception propagates (the writer gave up), discards the
    partial file instead, so the previous version of ``path`` stays in place.
    """

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._partial = temp_name(self._path)
        self._file = open(self._partial, "wb")
        self._failed = False

    def write(self, data: Any) -> int:
        try:
            return self._file.write(data)
        except BaseException:
            self._failed = True
            raise

    def flush(self) -> None:
        try:
            self._file.flush()
        except BaseException:
            self._failed = True
            raise

    def tell(self) -> int:
        return self._file.tell()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self._file.close()
            if self._failed or sys.exc_info()[1] is not None:
                discard(self._partial)
                return
            commit(self._partial, self._path)
        except BaseException:
            discard(self._partial)
            raise


class _AtomicLocalHandler(pyarrow.fs.FileSystemHandler):
    """``pyarrow.fs.LocalFileSystem`` for everything but output streams, which are :class:`_AtomicFile`."""

    def __init__(self) -> None:
        self._local = pyarrow.fs.LocalFileSystem()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _AtomicLocalHandler)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def get_type_name(self) -> str:
        return "alternas-atomic-local"

    def normalize_path(self, path: str) -> str:
        return self._local.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pyarrow.fs.FileInfo]:
        return self._local.get_file_info(paths)

    def get_file_info_selector(self, selector: pyarrow.fs.FileSelector) -> list[pyarrow.fs.FileInfo]:
        return self._local.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self._local.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self._local.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self._local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise OSError("alternas never deletes the contents of the root directory")

    def delete_file(self, path: str) -> None:
        self._local.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self._local.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        partial = temp_name(Path(dest))
        try:
            self._local.copy_file(src, str(partial))
            commit(partial, Path(dest))
        except BaseException:
            discard(partial)
            raise

    def open_input_stream(self, path: str) -> pyarrow.NativeFile:
        return self._local.open_input_stream(path)

    def open_input_file(self, path: str) -> pyarrow.NativeFile:
        return self._local.open_input_file(path)

    def open_output_stream(self, path: str, metadata: Any) -> pyarrow.NativeFile:
        return pyarrow.PythonFile(_AtomicFile(path), mode="w")

    def open_append_stream(self, path: str, metadata: Any) -> pyarrow.NativeFile:
        return self._local.open_append_stream(path)
