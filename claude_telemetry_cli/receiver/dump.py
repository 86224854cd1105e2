"""The --dump file: each accepted request as one JSON line, written whole or not at all."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class DumpFailed(Exception):
    """A request's line could not be written; the file was cut back to its last whole line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DumpFile:
    """Appends lines to a file, one request's lines in a single write.

    A write that fails part way (a full disk, a file size limit) would leave half a line behind, and a
    reader of the dump would take the request as received: the file is truncated back to where the
    write began. Not a regular file (a pipe, /dev/full), there is nothing to truncate."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Unbuffered: a line is handed to the OS in one write, never split by a buffer's flushes.
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        """Append `data` (whole lines) or raise DumpFailed, leaving the file as it was."""
        with self._lock:
            if self._fd < 0:
                raise DumpFailed(f"--dump {self.path}: cannot write: the file is closed")
            try:
                start = os.lseek(self._fd, 0, os.SEEK_END)
            except OSError:
                start = None
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as e:
                if start is not None:
                    try:
                        os.ftruncate(self._fd, start)
                    except OSError:
                        pass  # a device or a pipe: no length to restore
                reason = (e.strerror or str(e)).lower()
                raise DumpFailed(f"--dump {self.path}: cannot write: {reason}") from None

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
