"""Write a file all at once or not at all.

:func:`atomic_output` hands out a temporary file in the target's own directory
(same file system, so the final rename is atomic), and only when the caller's
block finishes without an exception flushes it, ``fsync``\\ s it and renames it
over the target. A run that fails or is interrupted leaves the previous file
exactly as it was; a reader never sees a half-written report. The temporary
file is removed on any exception (it is hidden, ``.NAME.XXXX.tmp``, should a
``SIGKILL`` leave one behind).

The new file gets the mode the old one had, or, for a new file, the mode a
plain ``open()`` would give it (``0o666`` less the umask), not ``mkstemp``'s
``0o600``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_output"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, binary: bool = False) -> Iterator[IO[Any]]:
    """A file to write ``path``'s new content to; ``path`` is replaced only if the block succeeds.

    Text mode is UTF-8 with ``newline=""`` (the writers choose their own line
    ends). Raises ``OSError`` when the directory is missing or not writable,
    or the target is a directory.

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.csv"
    >>> _ = target.write_text("old")
    >>> try:
    ...     with atomic_output(target) as fh:
    ...         _ = fh.write("half a rep")
    ...         raise RuntimeError("writer failed")
    ... except RuntimeError:
    ...     pass
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('old', ['out.csv'])
    >>> with atomic_output(target) as fh:
    ...     _ = fh.write("new")
    >>> target.read_text()
    'new'
    """
    # Write through a symlink as open() would: the link stays, its target is replaced.
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with suppress(OSError, AttributeError):   # no fchmod on Windows; a foreign owner's mode may be refused
            os.fchmod(fd, mode)
        fh: IO[Any] = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
