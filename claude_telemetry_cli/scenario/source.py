"""A generator preset compiled straight into a CompiledScenario: the records, spans and totals that
writing the scenario file with `generate` and reading it with compile_file would give, without the file.

The generator still writes each developer-day as scenario text (one definition of what a generated
session is), but only a developer-day at a time, and the text is read back by a reader of the few
line shapes the generator writes, not by the general YAML loader: a generated session is valid by
construction, so the loader's line bookkeeping and step checks have nothing to find. Pydantic still
validates each session (parameters from `--set` reach it), and a line of any other shape is handed to
the loader. Batches of sessions compile in worker processes; their results are taken in the order they
were generated, and the totals are merged exactly, so the outcome does not depend on the workers.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import yaml

from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import SessionInfo, TotalsBuilder, TotalsPart
from claude_telemetry_cli.scenario.spool import CompiledScenario, Spooler, filling, spooled

__all__ = ["compile_preset", "default_workers"]

# Sessions per task handed to a worker: large enough that sending them costs little next to compiling
# them (a few hundred milliseconds of work), small enough to keep every worker busy to the end.
_BATCH = 32
# Below this many developer-days, starting worker processes costs more than it saves.
_POOL_FROM_DEVELOPER_DAYS = 400


def default_workers(developer_days: int) -> int:
    """Worker processes for a period of `developer_days`: one per available core, none for a small one."""
    if developer_days < _POOL_FROM_DEVELOPER_DAYS:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


def compile_preset(
    params,
    options: EmitOptions | None = None,
    *,
    tracing: bool = False,
    keep_records: bool = True,
    totals: bool = True,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    spooler: Spooler | None = None,
) -> CompiledScenario:
    """Generate the organisation `params` describes (a validated GenerateParams) and compile it, one
    developer-day at a time; the same as compile_file() on the file `generate` writes.

    `tracing`, `keep_records` and `totals` as for compile_file(). `progress(days done, days)` is called
    as the period is generated. `workers`: processes compiling beside this one (0: compile here; None:
    default_workers()). `spooler`: what each process is kept as, made in the workers (default: its
    records, for plays()).
    """
    from claude_telemetry_cli.scenario.generate import Stats, iter_chunks

    options = options or EmitOptions()
    chunks = iter_chunks(params, Stats(params), progress)
    job = _Job(next(chunks), options, tracing, keep_records, totals, spooler)
    out = CompiledScenario(
        job.header.name,
        options.profile,
        keep_records=keep_records,
        totals=totals,
        spooler=spooler,
    )
    if workers is None:
        workers = default_workers(params.developers * params.days)
    with filling(out):  # the young generations are collected after each batch
        batches = _batches(chunks)
        results = _in_workers(job, batches, workers) if workers > 0 else map(job.compile, batches)
        for batch in results:
            for info, blob, record_count, span_count in batch.sessions:
                out.add_spooled(info, blob, record_count, span_count)
            if batch.totals is not None:
                out.merge_totals(batch.totals)
            gc.collect(1)
    return out


# -- batches of sessions ------------------------------------------------------------------------------

_SESSION_START = re.compile(r"^- ", re.M)


def _batches(chunks: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(index of the first session, the text of each session), _BATCH sessions at a time."""
    first, texts = 0, []
    for chunk in chunks:
        starts = [m.start() for m in _SESSION_START.finditer(chunk)]
        for n, start in enumerate(starts):
            texts.append(chunk[start : starts[n + 1] if n + 1 < len(starts) else len(chunk)])
            if len(texts) == _BATCH:
                yield first, texts
                first, texts = first + len(texts), []
    if texts:
        yield first, texts


@dataclass
class _Batch:
    sessions: list[tuple[SessionInfo, bytes | None, int, int]]  # info, spooled records, records, spans
    totals: TotalsPart | None


class _Job:
    """What compiling a batch needs, the same in this process and in each worker."""

    def __init__(
        self,
        preamble: str,
        options: EmitOptions,
        tracing: bool,
        keep_records: bool,
        totals: bool,
        spooler: Spooler | None = None,
    ):
        from claude_telemetry_cli.scenario.loader import _Loader

        self.args = (preamble, options, tracing, keep_records, totals, spooler)
        self.spool = spooler if spooler is not None else spooled
        self.options, self.tracing, self.keep_records, self.totals = options, tracing, keep_records, totals
        self.loader = _Loader("<generated>")
        # The preamble ends with the `sessions:` key, which the sessions that follow fill in.
        self.header = self.loader.load_header(preamble[: preamble.rindex("sessions:")])

    def compile(self, batch: tuple[int, list[str]]) -> _Batch:
        from claude_telemetry_cli.scenario.compile import compile_sessions
        from claude_telemetry_cli.scenario.spans import session_spans

        first, texts = batch
        entries = ((first + n, self._session(text, first + n)) for n, text in enumerate(texts))
        builder = TotalsBuilder() if self.totals else None
        sessions = []
        # A generated session is never repeated: process numbers are session indexes.
        for info, records in compile_sessions(self.header, entries, self.options, first_process=first):
            spans = []
            if self.tracing:
                records, spans = session_spans(info, records, seed=self.header.seed)
            if builder is not None:
                builder.add(records, spans, info.resource)
            blob = self.spool(info, records, spans) if self.keep_records else None
            sessions.append((info, blob, len(records), len(spans)))
        return _Batch(sessions, builder.exact_part() if builder is not None else None)

    def _session(self, text: str, index: int):
        from claude_telemetry_cli.scenario.model import Session

        data = read_generated_session(text)
        if data is None:
            return self.loader.load_session(text, 1, index)
        return Session.model_validate(data)


# -- worker processes ---------------------------------------------------------------------------------

_worker_job: _Job | None = None


def _start_worker(args: tuple) -> None:
    import signal

    global _worker_job
    # Ctrl-C reaches the whole process group; only the parent decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_job = _Job(*args)


def _compile_in_worker(batch: tuple[int, list[str]]) -> _Batch:
    assert _worker_job is not None
    # As in the parent: automatic collections would walk every record of the batch again and again;
    # what the batch leaves behind is collected once it is done.
    gc.disable()
    try:
        return _worker_job.compile(batch)
    finally:
        gc.collect(1)


def _in_workers(job: _Job, batches: Iterator[tuple[int, list[str]]], workers: int) -> Iterator[_Batch]:
    """Each batch compiled by a worker, in the order given; only a few batches ahead are generated, so
    memory stays that of the batches in flight."""
    import multiprocessing
    from collections import deque

    # Spawned, not forked: the parent may run threads (a progress bar) that a fork would copy mid-step.
    context = multiprocessing.get_context("spawn")
    ahead = 2 * workers + 2
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(job.args,))
    pending: deque[Future] = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(_compile_in_worker, batch))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


# -- reading the generator's text -----------------------------------------------------------------------

# The scalars the generator writes: plain words without spaces in flow mappings, plain text (labels) as
# session fields, and JSON-quoted strings for anything else.
_FLOW_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+/@-]*")
_BLOCK_PLAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.+/@()-]|:(?=[0-9])| (?=[^ ]))*")
_QUOTED = re.compile(r'"[^"\\]*"')
_FLOW_ITEM = re.compile(r'([a-z][a-z0-9_]*): ("(?:[^"\\]|\\.)*"|[^,"{}\[\]]*)(?:, |$)')
_KEY = re.compile(r"[a-z][a-z0-9_]*")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)")
_PLAIN_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")
_STR = "tag:yaml.org,2002:str"


class _NotGenerated(Exception):
    """A line the generator does not write: the general loader reads the session instead."""


def read_generated_session(text: str) -> dict[str, Any] | None:
    """One session item as the generator writes it, as the plain data YAML gives; None when the text
    has a shape the generator does not write."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not lines[0].startswith("- "):
        return None
    session: dict[str, Any] = {}
    steps: list | None = None
    try:
        for n, line in enumerate(lines):
            if steps is not None:
                if not line.startswith("  - "):
                    return None
                key, value = _field(line[4:])
                steps.append({key: value})
                continue
            body = line[2:] if n == 0 or (line.startswith("  ") and line[2:3] != " ") else None
            if body is None:
                return None
            if body == "steps:":
                steps = session["steps"] = []
                continue
            key, value = _field(body)
            if key in session:
                return None
            session[key] = value
    except _NotGenerated:
        return None
    return session


def _field(text: str) -> tuple[str, Any]:
    key, sep, rest = text.partition(": ")
    if not sep or not _is_key(key):
        raise _NotGenerated
    if rest.startswith("{"):
        return key, _flow(rest)
    if rest == "[]":
        return key, []
    if _BLOCK_PLAIN.fullmatch(rest):
        return key, _resolve(rest)
    return key, _quoted(rest)


def _flow(text: str) -> dict[str, Any]:
    if not text.endswith("}"):
        raise _NotGenerated
    inner = text[1:-1]
    out: dict[str, Any] = {}
    pos = 0
    while pos < len(inner):
        item = _FLOW_ITEM.match(inner, pos)
        if item is None or item.end() == pos:
            raise _NotGenerated
        key, value = item.group(1), item.group(2)
        if key in out or not _is_key(key):
            raise _NotGenerated
        if _FLOW_PLAIN.fullmatch(value):
            out[key] = _resolve(value)
        else:
            out[key] = _quoted(value)
        pos = item.end()
    return out


def _quoted(text: str) -> str:
    if _QUOTED.fullmatch(text):
        return text[1:-1]
    if not (len(text) >= 2 and text[0] == '"' and text[-1] == '"'):
        raise _NotGenerated
    # An escape: YAML's own reading of it.
    try:
        value = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        raise _NotGenerated from None
    if not isinstance(value, str):
        raise _NotGenerated
    return value


def _resolve(text: str) -> Any:
    """A plain scalar as YAML 1.1 reads it (the tag its resolver picks), the common cases directly."""
    if _DECIMAL.fullmatch(text):
        return int(text)
    if _PLAIN_FLOAT.fullmatch(text):
        return float(text)
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR:
        return text
    return _CONSTRUCTOR.construct_object(yaml.ScalarNode(tag, text))


def _is_key(text: str) -> bool:
    """A name YAML reads as that string (not `on`, `null`, ...), as the loader requires of keys."""
    known = _KEYS.get(text)
    if known is None:
        known = _KEYS[text] = bool(_KEY.fullmatch(text)) and _resolve(text) == text
    return known


_KEYS: dict[str, bool] = {}
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
