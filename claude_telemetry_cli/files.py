"""Files the tool writes appear whole or not at all: written beside their target, then renamed over it."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["file_mode", "replacing", "write_atomically"]


def file_mode(target: Path) -> int:
    """The mode the file would have had if written in place: the old one's, or 0666 less the umask
    (a temporary file is created 0600)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextlib.contextmanager
def replacing(
    path: str | os.PathLike,
    mode: str = "w",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    buffering: int = -1,
) -> Iterator[IO]:
    """A file open for writing whose content becomes `path` when the block ends without an error.

    It is a temporary file beside `path`, renamed over it at the end: a reader (a receiver waiting for
    a totals file, a scraper, a person) never meets half a file, and a failure or an interrupt leaves
    the old file, if any, as it was. A special file (a device, a pipe) has nothing to rename over and
    is written in place. OSError as os raises it; a directory at `path` fails before anything is
    written, not at the rename after all of it.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    if target.exists() and not target.is_file():
        with open(target, mode, buffering, encoding=encoding, newline=newline) as fh:
            yield fh
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, buffering, encoding=encoding, newline=newline) as fh:
            yield fh
        os.chmod(tmp, file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomically(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) as the whole of `path`, or leave `path` as it was."""
    with replacing(path, "w", encoding="utf-8") as fh:
        fh.write(text)
