"""A scenario's metrics as the samples a Prometheus server would have stored, written as OpenMetrics text.

Prometheus scrapes every `scrape_interval` over the window; what each scrape sees depends on what it
scrapes (the naming):

- `otel-collector`: the OpenTelemetry Collector's `prometheus` exporter, fed the processes' OTLP
  exports. Names carry unit suffixes and `_total`, resource attributes go on `target_info` (its
  `resource_to_telemetry_conversion` is off by default), `job`/`instance` come from `service.name`
  and `service.instance.id`. A series changes only when an export arrives, and is gone from scrapes
  `expiry` after its last update (the exporter's `metric_expiration`). Delta points become a running
  sum: with the `processor` rule every delta adds, an expired series coming back included (a
  `deltatocumulative` processor ahead of the exporter, its `max_stale` longer than the export); with
  the `exporter` rule, the exporter's own, a delta adds only when it starts where the series' last
  point ended, otherwise it restarts the series, and an expired series restarts too.
- `claude-code`: each Claude Code process's own pull endpoint (OTEL_METRICS_EXPORTER=prometheus, the
  OpenTelemetry JS Prometheus exporter): names without unit suffixes, each series labelled with its
  points' attributes plus `otel_scope_name` and `otel_scope_version` and nothing else (no
  `otel_scope_schema_url`), a series' cumulative value at the scrape time, from its first measurement
  until its process exits.

The samples come out in time order, but OpenMetrics wants each family's samples together: each family
is spooled to its own temporary file and the files are joined at the end, so memory follows the
series alive at once, never the length of the period.
"""

from __future__ import annotations

import heapq
import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from claude_telemetry_cli.contract import METER_NAME
from claude_telemetry_cli.contract.prometheus import label_name, label_value, series_labels
from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.pairs import split_pair
from claude_telemetry_cli.records import METRIC, Playable

__all__ = [
    "DELTA_RULES",
    "NAMINGS",
    "CollectorScrapes",
    "Family",
    "Naming",
    "OpenMetricsResult",
    "Point",
    "ProcessScrapes",
    "collector_metric_name",
    "label_name",
    "parse_labels",
    "points_of_exports",
    "process_updates",
    "write_openmetrics",
]

NAMINGS = ("otel-collector", "claude-code")
DELTA_RULES = ("processor", "exporter")

# The Collector's unit -> suffix table (pkg/translator/prometheus, as the OpenTelemetry Prometheus
# compatibility specification gives it); a unit not listed is kept as written, so USD stays USD.
_UNIT_WORDS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
_PER_UNIT_WORDS = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}
_ANNOTATION = re.compile(r"\{[^}]*\}")
_NOT_NAME = re.compile(r"[^a-zA-Z0-9]+")
_LABEL_KEY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _unit_words(unit: str) -> list[str]:
    """The name tokens a unit adds: `s` -> seconds, `By/s` -> bytes_per_second, `{request}` -> none."""
    unit = _ANNOTATION.sub("", unit).strip()
    if not unit:
        return []
    main, _, per = unit.partition("/")
    words = []
    main_word = _UNIT_WORDS.get(main, main)
    if main_word:
        words.extend(t for t in _NOT_NAME.split(main_word) if t)
    if per:
        per_word = _PER_UNIT_WORDS.get(per, per)
        words.extend(["per", *(t for t in _NOT_NAME.split(per_word) if t)])
    return words


def collector_metric_name(name: str, unit: str, *, monotonic: bool = True) -> tuple[str, str]:
    """(family name, unit) as the Collector's Prometheus exporter names a monotonic sum: the name's
    words joined by `_`, the unit's words appended unless the name has them, `total` moved last
    (the sample name; the family name is without it). `claude_code.cost.usage` in USD ->
    (`claude_code_cost_usage_USD`, `USD`)."""
    tokens = [t for t in _NOT_NAME.split(name) if t]
    unit_tokens = _unit_words(unit)
    if unit_tokens and unit_tokens[0] not in tokens:
        tokens.extend(t for t in unit_tokens if t not in tokens)
    if monotonic:
        tokens = [t for t in tokens if t != "total"]
    family = "_".join(tokens)
    if family and family[0].isdigit():
        family = "_" + family
    suffix = "_".join(unit_tokens) if unit_tokens and family.endswith("_".join(unit_tokens)) else ""
    return family, suffix


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _render(labels: Iterable[tuple[str, str]]) -> str:
    """`{k="v",...}` in label-name order, empty values left out as Prometheus drops them."""
    pairs = sorted((k, v) for k, v in labels if v != "")
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def parse_labels(pairs: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """--label KEY=VALUE options; a malformed one is a UsageError naming it."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, value = split_pair(
            pair,
            "--label",
            hint=" with a Prometheus label name as KEY",
            key_ok=lambda key: _LABEL_KEY.fullmatch(key) and not key.startswith("__"),
        )
        out[key] = value
    return tuple(out.items())


@dataclass(frozen=True, slots=True)
class Family:
    """One OpenMetrics metric family: `name` is what # TYPE names, samples are `sample_name`."""

    name: str
    sample_name: str
    kind: str  # counter | info
    help: str
    unit: str = ""

    def header(self) -> bytes:
        lines = [f"# TYPE {self.name} {self.kind}"]
        if self.unit:
            lines.append(f"# UNIT {self.name} {self.unit}")
        if self.help:
            lines.append(f"# HELP {self.name} {_escape(self.help)}")
        return ("\n".join(lines) + "\n").encode()


TARGET_INFO = Family("target", "target_info", "info", "Target metadata")


@dataclass(frozen=True)
class Naming:
    """How a scrape names what it finds: `kind` one of NAMINGS; `labels` (--label) replace the labels
    the naming derives for the same keys and are added to every series."""

    kind: str = "otel-collector"
    labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in NAMINGS:
            raise UsageError(f"--naming {self.kind!r}: use one of {', '.join(NAMINGS)}")

    def family(self, name: str, unit: str, description: str) -> Family:
        if self.kind == "otel-collector":
            family, suffix = collector_metric_name(name, unit)
        else:
            # Claude Code drops its units when prometheus is the only exporter: no suffix, no # UNIT.
            family, suffix = collector_metric_name(name, "")[0], ""
        return Family(family, family + "_total", "counter", description, suffix)

    def _job_instance(self, resource: Iterable[tuple[str, object]]) -> list[tuple[str, str]]:
        if self.kind != "otel-collector":
            return []
        res = dict(resource)
        out = []
        service = res.get("service.name")
        if service is not None:
            namespace = res.get("service.namespace")
            out.append(("job", f"{namespace}/{service}" if namespace else str(service)))
        if res.get("service.instance.id") is not None:
            out.append(("instance", str(res["service.instance.id"])))
        return out

    def series(self, attributes, scope_name: str, scope_version: str, resource) -> str:
        """The label block of one point's series."""
        labels = series_labels(attributes, scope_name, scope_version)
        labels.update(self._job_instance(resource))
        labels.update(self.labels)
        return _render(labels.items())

    def target(self, resource) -> str:
        """The label block of a resource's target_info."""
        skip = {"service.name", "service.namespace", "service.instance.id"}
        if self.kind == "otel-collector":
            labels = {label_name(k): label_value(v) for k, v in resource if k not in skip}
        else:
            labels = {label_name(k): label_value(v) for k, v in resource}
        labels.update(self._job_instance(resource))
        labels.update(self.labels)
        return _render(labels.items())

    def target_group(self, resource) -> tuple:
        """The Collector keeps one target_info per job and instance; each process serves its own, and
        processes with the same resource make one series."""
        if self.kind == "otel-collector":
            return tuple(self._job_instance(resource))
        return (self.target(resource),)


# -- what a scrape sees --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    """One data point of a monotonic sum as an export carried it (the Collector's view)."""

    name: str
    unit: str
    description: str
    attributes: tuple
    resource: tuple
    scope_name: str
    scope_version: str
    temporality: str  # delta | cumulative
    start_ns: int
    time_ns: int
    value: float


class _Series:
    __slots__ = ("family", "head", "value", "text", "updated_ns", "last_ns", "target", "contributions")

    def __init__(self, family: int, head: bytes, target: tuple) -> None:
        self.family = family
        self.head = head  # b'name{labels} '
        self.value = 0.0
        self.text = b""  # head + value + b" ": what every scrape writes before the timestamp
        self.updated_ns = 0
        self.last_ns = -1  # the time of the last point, for the exporter's delta rule
        self.target = target  # (group, target_info line head)
        self.contributions: dict[int, float] | None = None

    def set(self, value: float) -> None:
        self.value = value
        self.text = self.head + repr(value).encode() + b" "


class _Scrapes:
    """What both views share: families, target_info reference counts, the sample writer."""

    def __init__(self, naming: Naming) -> None:
        self.naming = naming
        self.families: list[Family] = []
        self._family_index: dict[str, int] = {}
        self.series: dict[tuple[int, str], _Series] = {}
        # group -> {target_info line text: live series using it}, oldest first
        self._targets: dict[tuple, dict[bytes, int]] = {}
        self.series_seen: set[tuple[int, str]] = set()

    def family_of(self, name: str, unit: str, description: str) -> int:
        index = self._family_index.get(name)
        if index is None:
            index = self._family_index[name] = len(self.families)
            self.families.append(self.naming.family(name, unit, description))
        return index

    def _new_series(self, key, family: int, labels: str, resource) -> _Series:
        group = self.naming.target_group(resource)
        target = (group, f"target_info{self.naming.target(resource)} 1 ".encode())
        s = _Series(family, f"{self.families[family].sample_name}{labels} ".encode(), target)
        self.series[key] = s
        self.series_seen.add(key)
        counts = self._targets.setdefault(target[0], {})
        counts[target[1]] = counts.get(target[1], 0) + 1
        return s

    def _drop(self, key) -> None:
        s = self.series.pop(key)
        group, line = s.target
        counts = self._targets[group]
        counts[line] -= 1
        if not counts[line]:
            del counts[line]
            if not counts:
                del self._targets[group]

    def expire(self, at_ns: int) -> None:
        """Before a scrape at `at_ns`: forget what the scrape no longer sees."""

    def scrape(self, stamp: bytes, out: list[list[bytes]], info: list[bytes]) -> int:
        """Every live series' sample into `out` (a list per family) and each target's target_info into
        `info`; the number of samples."""
        for s in self.series.values():
            out[s.family].append(s.text + stamp)
        for counts in self._targets.values():
            info.append(next(iter(counts)) + stamp)
        return len(self.series) + len(self._targets)


class CollectorScrapes(_Scrapes):
    """The Collector's `prometheus` exporter: points accumulate as they arrive; a series is served
    until `expiry_ns` after its last update."""

    def __init__(self, naming: Naming, expiry_ns: int, delta_rule: str = "processor") -> None:
        super().__init__(naming)
        if delta_rule not in DELTA_RULES:
            raise UsageError(f"--delta-rule {delta_rule!r}: use one of {', '.join(DELTA_RULES)}")
        self.expiry_ns = expiry_ns
        self.sums_every_delta = delta_rule == "processor"
        self._labels: dict[tuple, str] = {}
        # processor: expired series' (sum, last point's time); a float per series, never its samples.
        self._resting: dict[tuple[int, str], tuple[float, int]] = {}

    def receive(self, p: Point) -> None:
        family = self.family_of(p.name, p.unit, p.description)
        cache_key = (p.attributes, p.resource, p.scope_name, p.scope_version)
        labels = self._labels.get(cache_key)
        if labels is None:
            if len(self._labels) > 100_000:
                self._labels.clear()
            labels = self._labels[cache_key] = self.naming.series(
                p.attributes, p.scope_name, p.scope_version, p.resource
            )
        key = (family, labels)
        s = self.series.get(key)
        if s is None:
            s = self._new_series(key, family, labels, p.resource)
            resting = self._resting.pop(key, None)
            if resting is None:
                s.set(p.value)
                s.last_ns = p.time_ns
                s.updated_ns = p.time_ns
                return
            s.set(resting[0])
            s.last_ns = resting[1]
        if p.time_ns < s.last_ns:
            return  # the exporter keeps only a point newer than the one it has
        elif p.temporality == "cumulative":
            s.set(p.value)
        elif self.sums_every_delta or p.start_ns == s.last_ns:
            s.set(s.value + p.value)
        else:
            s.set(p.value)  # a delta that does not continue the series starts it over
        s.last_ns = p.time_ns
        s.updated_ns = p.time_ns

    def expire(self, at_ns: int) -> None:
        limit = at_ns - self.expiry_ns
        for key in [k for k, s in self.series.items() if s.updated_ns < limit]:
            if self.sums_every_delta:
                # No longer served, but the processor ahead still holds its sum for when it is back.
                s = self.series[key]
                self._resting[key] = (s.value, s.last_ns)
            self._drop(key)


class ProcessScrapes(_Scrapes):
    """Each process's own endpoint: a series from its first measurement until its process exits,
    its value the sum of the measurements so far. Processes whose series share every label (no
    session.id on points, one user, at once) show as one series, their sum."""

    def __init__(self, naming: Naming) -> None:
        super().__init__(naming)
        self._process_series: dict[int, list[tuple[int, str]]] = {}
        self._labels: dict[tuple, str] = {}

    def measure(
        self, process: int, name: str, unit: str, description: str, attributes, resource, scope_version, value
    ):
        family = self.family_of(name, unit, description)
        cache_key = (attributes, resource, scope_version)
        labels = self._labels.get(cache_key)
        if labels is None:
            if len(self._labels) > 100_000:
                self._labels.clear()
            labels = self._labels[cache_key] = self.naming.series(
                attributes, METER_NAME, scope_version, resource
            )
        key = (family, labels)
        s = self.series.get(key)
        if s is None:
            s = self._new_series(key, family, labels, resource)
            s.contributions = {}
        if process not in s.contributions:
            s.contributions[process] = 0.0
            self._process_series.setdefault(process, []).append(key)
        s.contributions[process] += value
        s.set(s.value + value)

    def exit(self, process: int) -> None:
        for key in self._process_series.pop(process, ()):
            s = self.series[key]
            gone = s.contributions.pop(process)
            if s.contributions:
                s.set(s.value - gone)
            else:
                self._drop(key)


# -- update streams ------------------------------------------------------------------------------


def points_of_exports(exports: Iterable) -> Iterator[tuple[int, Point]]:
    """(arrival ns, point) for every point of every metrics export, in the order they were sent."""
    from claude_telemetry_cli.otlp.decode import decode_metrics

    for export in exports:
        request = export.request
        if request.signal != "metrics":
            continue
        for p in decode_metrics(request.body):
            if p.kind != "sum" or not p.monotonic:
                continue
            yield (
                p.time_ns,
                Point(
                    p.name,
                    p.unit,
                    p.description,
                    p.attributes,
                    p.resource,
                    p.scope_name,
                    p.scope_version,
                    p.temporality,
                    p.start_ns,
                    p.time_ns,
                    p.value,
                ),
            )


_EXIT = None


def process_updates(playable: Playable, start_ns: int) -> Iterator[tuple[int, tuple]]:
    """(ns, (process, record)) for every measurement of every process in time order, and (ns,
    (process, None)) when a process exits. Processes are read in the order they start, so memory
    follows the processes running at once."""
    plays = playable.plays()
    upcoming = next(plays, None)
    running: list[tuple[float, int, int, Iterator, object]] = []
    order = itertools.count()

    def ns(at: float) -> int:
        return start_ns + round(at * 1e9)

    while running or upcoming is not None:
        while upcoming is not None and (not running or upcoming.info.start_at <= running[0][0]):
            info = upcoming.info
            metrics = iter([r for r in upcoming.records if r.signal == METRIC])
            first = next(metrics, None)
            item = (info, first) if first is not None else (info, _EXIT)
            due = first.at if first is not None else info.end_at
            heapq.heappush(running, (due, 0 if first is not None else 1, next(order), metrics, item))
            upcoming = next(plays, None)
        due, _, _, metrics, (info, record) = heapq.heappop(running)
        yield ns(due), (info, record)
        if record is _EXIT:
            continue
        following = next(metrics, None)
        if following is not None:
            heapq.heappush(running, (following.at, 0, next(order), metrics, (info, following)))
        else:
            heapq.heappush(running, (info.end_at, 1, next(order), metrics, (info, _EXIT)))


# -- the file ------------------------------------------------------------------------------------


@dataclass
class OpenMetricsResult:
    samples: int = 0
    lines: int = 0
    series: int = 0
    families: list[str] = field(default_factory=list)
    first_ns: int | None = None
    last_ns: int | None = None
    scrapes: int = 0

    def to_json(self) -> dict:
        from claude_telemetry_cli.history.when import format_instant

        return {
            "samples": self.samples,
            "lines": self.lines,
            "series": self.series,
            "families": self.families,
            "scrapes": self.scrapes,
            "first_sample": format_instant(self.first_ns) if self.first_ns is not None else None,
            "last_sample": format_instant(self.last_ns) if self.last_ns is not None else None,
        }


class _Spool:
    """Per-family temporary files, filled in time order and joined family by family at the end."""

    def __init__(self, directory: str | None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix=".openmetrics-", dir=directory)
        self.files: list[BinaryIO] = []

    def file(self, index: int) -> BinaryIO:
        while len(self.files) <= index:
            path = os.path.join(self._dir.name, f"{len(self.files)}.om")
            self.files.append(open(path, "w+b", buffering=1 << 20))  # noqa: SIM115 - closed in close()
        return self.files[index]

    def close(self) -> None:
        for f in self.files:
            f.close()
        self._dir.cleanup()


def write_openmetrics(
    updates: Iterable[tuple[int, object]],
    scrapes: _Scrapes,
    apply,
    out: BinaryIO,
    *,
    end_ns: int,
    interval_ns: int,
    spool_dir: str | None = None,
    progress=None,
) -> OpenMetricsResult:
    """Scrape `scrapes` every `interval_ns` on a grid ending at `end_ns`, applying each update (`apply
    (scrapes, update)`) before the first scrape at or after its time, and write the samples to `out`
    as OpenMetrics text ending with `# EOF`. Scrapes that would see nothing are skipped."""
    result = OpenMetricsResult()
    spool = _Spool(spool_dir)
    end_ms = end_ns // 1_000_000
    interval_ms = max(1, interval_ns // 1_000_000)
    buffers: list[list[bytes]] = []  # per family, in the order families were first seen
    info: list[bytes] = []
    pending = 0

    def grid_at_or_after(t_ns: int) -> int:
        """The first scrape that sees what arrived at `t_ns` (a scrape sees what came before or at it)."""
        t_ms = -(-t_ns // 1_000_000)
        return end_ms - (max(0, end_ms - t_ms) // interval_ms) * interval_ms

    def flush() -> None:
        nonlocal pending
        for index, lines in enumerate(buffers):
            if lines:
                spool.file(index + 1).write(b"".join(lines))
                lines.clear()
        if info:
            spool.file(0).write(b"".join(info))
            info.clear()
        pending = 0

    def scrape_before(limit_ms: int, next_ms: int) -> int | None:
        """Scrape at next_ms, next_ms + interval, ... while before limit_ms and in the window; the
        next scrape's time, or None once nothing is left to see."""
        nonlocal pending
        while next_ms < limit_ms and next_ms <= end_ms:
            scrapes.expire(next_ms * 1_000_000)
            if not scrapes.series:
                return None
            while len(buffers) < len(scrapes.families):
                buffers.append([])
            n = scrapes.scrape(b"%d.%03d\n" % divmod(next_ms, 1000), buffers, info)
            result.samples += n
            result.scrapes += 1
            if result.first_ns is None:
                result.first_ns = next_ms * 1_000_000
            result.last_ns = next_ms * 1_000_000
            pending += n
            if pending >= 50_000:
                flush()
            next_ms += interval_ms
        return next_ms

    try:
        next_ms: int | None = None
        last_progress = 0
        for t_ns, update in updates:
            if next_ms is not None:
                next_ms = scrape_before(-(-t_ns // 1_000_000), next_ms)
            if next_ms is None:
                next_ms = grid_at_or_after(t_ns)
            apply(scrapes, update)
            if progress is not None and t_ns - last_progress >= 3_600 * 10**9:
                last_progress = t_ns
                progress(t_ns, result.samples)
        if next_ms is not None:
            scrape_before(end_ms + 1, next_ms)
        flush()
        result.series = len(scrapes.series_seen)
        # Each family's samples together, target_info last.
        order = [(index + 1, family) for index, family in enumerate(scrapes.families)]
        order.append((0, TARGET_INFO))
        for index, family in order:
            if index >= len(spool.files) or not spool.files[index].tell():
                continue
            result.families.append(family.sample_name)
            out.write(family.header())
            result.lines += 1 + bool(family.unit) + bool(family.help)
            source = spool.files[index]
            source.flush()
            source.seek(0)
            shutil.copyfileobj(source, out, 1 << 20)
        out.write(b"# EOF\n")
        result.lines += result.samples + 1
    finally:
        spool.close()
    return result
