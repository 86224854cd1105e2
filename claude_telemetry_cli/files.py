"""Files the tool writes appear whole or not at all: written beside their target, then renamed over it."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from claude_telemetry_cli.errors import UsageError

__all__ = ["check_writable", "file_mode", "replacing", "write_atomically", "writing"]


def file_mode(target: Path) -> int:
    """The mode the file would have had if written in place: the old one's, or 0666 less the umask
    (a temporary file is created 0600)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _special(target: Path) -> bool:
    """A device, a FIFO or a socket: a node with nothing to rename over it, written in place."""
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _resolved(path: str | os.PathLike) -> Path:
    """Where the file is written: `path`, or the file a symbolic link names (renaming over the link
    would replace it by a file). A special file is opened by its own name: /dev/fd/63, the pipe of a
    shell's >(...), resolves to no path at all."""
    target = Path(path)
    if os.path.islink(target) and not _special(target):
        return Path(os.path.realpath(target))
    return target


def check_writable(path: str | os.PathLike, option: str) -> None:
    """A UsageError "OPTION PATH: why" now, before any work, if `path` cannot be written: its directory
    is missing or not one, it cannot be written in, `path` is a directory, or a special file (a device,
    a FIFO) this user may not write. Nothing is left behind."""
    target = _resolved(path)
    where = f"{option} {os.fspath(path)}"
    if target.is_dir():
        raise UsageError(f"{where}: is a directory")
    if _special(target):
        # Opening it would be an act of its own (a FIFO's reader would meet its end at once).
        if not os.access(target, os.W_OK):
            raise UsageError(f"{where}: {os.strerror(errno.EACCES)}")
        return
    parent = target.parent
    if not parent.exists():
        raise UsageError(f"{where}: directory '{parent}' does not exist")
    if not parent.is_dir():
        raise UsageError(f"{where}: '{parent}' is not a directory")
    # Creating the temporary file is the one true test (a read-only mount, root's permissions, ...).
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UsageError(f"{where}: cannot write in '{parent}': {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


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
    is written in place; a symbolic link is followed, and what it points to is replaced. OSError as os
    raises it; a directory at `path` fails before anything is written, not at the rename after all of it.
    """
    target = _resolved(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    if _special(target):
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


@contextlib.contextmanager
def writing(
    path: str | os.PathLike,
    option: str,
    mode: str = "w",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    buffering: int = -1,
) -> Iterator[IO]:
    """replacing(path), with a failure to open, write or rename the file (a full disk, /dev/full, a
    FIFO whose reader left) as a UsageError "OPTION PATH: why". Other errors of the block pass as they
    are: an OSError naming another file is not this one's."""
    ours = {os.fspath(path), str(_resolved(path))}
    try:
        with replacing(path, mode, encoding=encoding, newline=newline, buffering=buffering) as fh:
            yield fh
    except OSError as exc:
        named = exc.filename is None or str(exc.filename) in ours or _is_temporary(exc.filename, path)
        if not named:
            raise
        raise UsageError(f"{option} {os.fspath(path)}: {exc.strerror or exc}") from None


def _is_temporary(filename, path) -> bool:
    name = Path(os.fspath(filename)).name
    return name.startswith(f".{_resolved(path).name}.") and name.endswith(".tmp")


def write_atomically(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) as the whole of `path`, or leave `path` as it was."""
    with replacing(path, "w", encoding="utf-8") as fh:
        fh.write(text)
