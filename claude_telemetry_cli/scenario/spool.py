"""A scenario file compiled one session at a time into a temporary file, so a month of a large
organisation replays in the memory of the processes running at once, not of the whole month.

The file is read session by session (loader.read_sessions), each process compiled and, when tracing,
given its spans; its totals are added up and its records written out. The replay then reads the
processes back in the order they start. Everything is validated and compiled before anything is
sent: a bad file sends nothing.
"""

from __future__ import annotations

import gc
import pickle
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from claude_telemetry_cli.contract import VERSION_PROFILES, version_key
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import (
    Record,
    SessionInfo,
    SessionPlay,
    SpanRecord,
    Totals,
    TotalsBuilder,
    TotalsPart,
    play_order,
)

__all__ = ["CompiledScenario", "Spooler", "compile_file", "filling", "spooled"]


class CompiledScenario:
    """What replay() needs of a scenario (like records.Timeline), with the records on disk."""

    def __init__(
        self,
        name: str,
        profile: str,
        *,
        keep_records: bool = True,
        totals: bool = True,
        spooler: Spooler | None = None,
    ) -> None:
        self.name = name
        self.profile = profile
        self.session_count = 0
        self.record_count = 0
        self.span_count = 0
        self.duration = 0.0
        self._totals = TotalsBuilder() if totals else None
        self._index: list[tuple[tuple[float, int], int, int]] = []  # (play order, offset, size)
        self._file = tempfile.TemporaryFile(prefix="claude-telemetry-") if keep_records else None
        self._size = 0
        # What each process's blob holds: its records (spooled()), or what `spooler` makes of them.
        self._spool = spooler if spooler is not None else spooled
        self.spool_format = spooler.format if spooler is not None else "records"
        self._old_versions: set[str] = set()

    def _check_version(self, app_version: str) -> None:
        if version_key(app_version) < version_key(VERSION_PROFILES[0].version or ""):
            self._old_versions.add(app_version)

    @property
    def warnings(self) -> list[str]:
        """What the compile has to say, a line each, once however many sessions it concerns."""
        if not self._old_versions:
            return []
        versions = ", ".join(sorted(self._old_versions, key=version_key))
        oldest = VERSION_PROFILES[0].name
        return [
            f"app_version {versions} is older than every known client profile: those sessions are emitted "
            f"in the shape of the oldest, {oldest}"
        ]

    @property
    def has_spans(self) -> bool:
        return self.span_count > 0

    def add(self, info: SessionInfo, records: list[Record], spans: list[SpanRecord]) -> None:
        if self._totals is not None:
            self._totals.add(records, spans, info.resource)
        blob = self._spool(info, records, spans) if self._file is not None else None
        self.add_spooled(info, blob, len(records), len(spans))

    def add_spooled(self, info: SessionInfo, blob: bytes | None, record_count: int, span_count: int) -> None:
        """A process compiled elsewhere, kept as the spooler made it (spool_format); its totals come with
        merge_totals()."""
        if self.profile == "current":
            self._check_version(info.app_version)
        self.session_count += 1
        self.record_count += record_count
        self.span_count += span_count
        self.duration = max(self.duration, info.end_at)
        if self._file is None or blob is None:
            return
        self._file.write(blob)
        self._index.append((play_order(info), self._size, len(blob)))
        self._size += len(blob)

    def merge_totals(self, part: TotalsPart) -> None:
        if self._totals is not None:
            self._totals.merge(part)

    def totals(self) -> Totals:
        if self._totals is None:
            raise RuntimeError("compiled without totals (totals=False)")
        return self._totals.totals()

    def plays(self) -> Iterator[SessionPlay]:
        """Each process with its records and spans, in the order the processes start."""
        if self.spool_format != "records":
            raise RuntimeError(f"compiled into {self.spool_format}, not records")
        for blob in self.blobs():
            info, rows, spans = pickle.loads(blob)
            yield SessionPlay(info, [Record(*row) for row in rows], spans)

    def blobs(self) -> Iterator[bytes]:
        """Each process's blob as it was spooled (see spool_format), in the order the processes start."""
        if self._file is None:
            raise RuntimeError("compiled without its records (keep_records=False)")
        self._file.flush()
        for _, offset, size in sorted(self._index):
            self._file.seek(offset)
            yield self._file.read(size)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> CompiledScenario:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Spooler(Protocol):
    """Turns a compiled process into the blob a CompiledScenario stores, in place of spooled(): what
    its consumer would otherwise derive from the records, made where the records are compiled (in
    worker processes, for a preset). Picklable, to be sent to those workers."""

    format: str  # CompiledScenario.spool_format

    def __call__(self, info: SessionInfo, records: list[Record], spans: list[SpanRecord]) -> bytes: ...


def spooled(info: SessionInfo, records: list[Record], spans: list[SpanRecord]) -> bytes:
    """One process as CompiledScenario stores it."""
    # Plain tuples, in Record's field order: half the time of pickling the dataclasses.
    rows = [
        (r.at, r.session, r.signal, r.name, r.value, r.attributes, r.trace, r.span_attributes)
        for r in records
    ]
    return pickle.dumps((info, rows, spans), protocol=pickle.HIGHEST_PROTOCOL)


def compile_file(
    path: Path,
    options: EmitOptions | None = None,
    *,
    tracing: bool = False,
    keep_records: bool = True,
    totals: bool = True,
    progress: Callable[[int, int], None] | None = None,
    spooler: Spooler | None = None,
) -> CompiledScenario:
    """Read, validate and compile the scenario at `path`, one session at a time.

    With `tracing`, events inside an interaction carry its trace context and the spans are derived,
    their ids from the scenario's seed. `keep_records=False` keeps only the counts and totals (for
    `scenarios totals`); `totals=False` skips the totals too (for `scenarios validate`).
    `progress(entries read, entries in the file)` is called as session entries are read. `spooler`:
    what each process is kept as (default: its records, for plays()).
    """
    # Imported here: the loader pulls in pydantic and the compiler its tables.
    from claude_telemetry_cli.scenario.compile import compile_sessions
    from claude_telemetry_cli.scenario.loader import read_sessions
    from claude_telemetry_cli.scenario.spans import session_spans

    options = options or EmitOptions()
    source = read_sessions(path)
    entries = source.entries
    if progress is not None:
        entries = _counted(entries, source.count, progress)
    out = CompiledScenario(
        source.header.name, options.profile, keep_records=keep_records, totals=totals, spooler=spooler
    )
    with filling(out):
        for info, records in compile_sessions(source.header, entries, options):
            spans: list[SpanRecord] = []
            if tracing:
                records, spans = session_spans(info, records, seed=source.header.seed)
            out.add(info, records, spans)
            if out.session_count % 256 == 0:
                gc.collect(1)
    return out


@contextmanager
def filling(out: CompiledScenario) -> Iterator[None]:
    """While `out` is filled: no full garbage collections, and `out` closed (its spool removed) if the
    compile fails. The totals hold millions of long-lived objects that full collections would walk over
    and over (a third of the time at 24 MB, more as the file grows); the caller collects the young
    generations every few sessions: what one session leaves behind."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    except BaseException:
        out.close()
        raise
    finally:
        if was_enabled:
            gc.enable()


def _counted(entries, total: int, progress: Callable[[int, int], None]):
    for n, entry in enumerate(entries, 1):
        yield entry
        progress(n, total)
