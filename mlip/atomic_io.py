"""Atomic file replacement for every file mlip and md write (potentials, exported models,
checkpoints, metrics, drift.json, plots, rewritten trajectories, md config.yaml).

Every writer goes through a temporary file with a unique name (``tempfile.mkstemp``) in the
destination's directory, so two writers of the same folder (two runs, or two reporters) never
share a temporary file. The temporary file is fsync'ed, then renamed over the destination
(``os.replace``, atomic on POSIX), so a reader or a crash sees the old file or the new one,
never half a file; on any error it is removed and the destination is left as it was. The new
file gets the permissions a plain ``open`` would give it (``0o666`` minus the umask), not
``mkstemp``'s private ``0o600``.

Example:
    >>> import json, os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with atomic_open(os.path.join(folder, "report.json"), "w", encoding="utf-8") as handle:
    ...         json.dump({"ok": True}, handle)
    ...     print(sorted(os.listdir(folder)))
    ['report.json']
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator, Optional


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (the only portable way to read it)
    os.umask(mask)
    return mask


def fsync_path(path: str) -> None:
    """Flush the file's data to disk (for writers that hide their file descriptor)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary(path: str, suffix: str):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}")
    return directory, fd, tmp


def _remove(tmp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
    """Yield the path of a fresh, empty temporary file next to ``path``; on a normal exit it is
    fsync'ed and renamed to ``path``, on an exception removed.

    For libraries that want a file name rather than a handle (mdtraj, ASE's Trajectory);
    ``suffix`` (e.g. ``".dcd"``) ends the temporary name for those that look at it. A handle
    the body leaves open follows the file to its final name (POSIX rename semantics).
    """
    directory, fd, tmp = _temporary(path, suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_directory(directory)


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb", encoding: Optional[str] = None) -> Iterator[IO]:
    """``open(path, mode)`` for writing, made atomic: yields a handle on a unique temporary
    file next to ``path``; on a normal exit it is flushed, fsync'ed and renamed to ``path``,
    on an exception closed and removed (``path`` untouched)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole new file: mode 'w' or 'wb', got {mode!r}")
    directory, fd, tmp = _temporary(path, "")
    try:
        try:
            handle = os.fdopen(fd, mode, encoding=encoding)
        except BaseException:
            os.close(fd)
            raise
        with handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
