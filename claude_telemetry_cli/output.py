"""rich rendering: summaries, tables and progress. Every function takes the Console to draw on."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from claude_telemetry_cli.durations import format_duration
from claude_telemetry_cli.wording import counted


def print_json(console: Console, data) -> None:
    # Plain print: rich would wrap long lines and colour the JSON, breaking `| jq`.
    console.file.write(json.dumps(data, indent=2, default=str) + "\n")
    console.file.flush()


# Control characters and line separators a message may quote from a value, a key or a file name.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(message: str) -> str:
    """A message as one line of plain text: what the user wrote is quoted, never obeyed, so `[/x]` is not
    markup and a newline or control character in a value shows as its escape."""
    return escape(_INVISIBLE.sub(lambda m: repr(m.group())[1:-1], message))


def error(console: Console, message: str) -> None:
    console.print(f"[bold red]error:[/] {_one_line(message)}", highlight=False, soft_wrap=True)


def warning(console: Console, message: str) -> None:
    console.print(f"[yellow]warning:[/] {_one_line(message)}", highlight=False, soft_wrap=True)


@contextmanager
def progress_bar(
    console: Console, description: str, unit: str, total: int | None = None
) -> Iterator[Callable]:
    """A transient progress bar "DESCRIPTION [bar] done/total UNIT elapsed" on `console`; yields
    `update(done, total=None)` (a total given later replaces the first)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)

        def update(done: int, total: int | None = None) -> None:
            progress.update(task, completed=done, **({} if total is None else {"total": total}))

        yield update


def scenario_time(seconds: float, *, long: bool) -> str:
    """A point in scenario time: "14h03m" in a scenario of hours or days, "4m05s" in a short one."""
    minutes, secs = divmod(int(seconds), 60)
    if long:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


@contextmanager
def replay_progress(
    console: Console,
    description: str,
    records: int | None,
    duration_s: float,
    now: Callable[[], float],
    get_time: Callable[[], float] | None = None,
    unit: str = "records",
) -> Iterator[Callable[[int], None]]:
    """A transient progress bar of a replay, "NAME [bar] 14h03m of 336h00m  1,234/159,302 records
    elapsed  ETA 0:22:55", on `console`; yields `update(records_done)`.

    The bar follows scenario time, read from `now` at every refresh, not the records: a replay
    whose first session starts hours into the scenario sends nothing for hours and must not look
    hung. The ETA is the wall time per scenario second so far times the scenario time left.
    `get_time` is the wall clock (rich's default, a monotonic one). Without a total of `records`, the
    count of `unit` done is shown alone.
    """
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    long = duration_s >= 3600
    total = max(duration_s, 1e-9)

    class ScenarioTime(ProgressColumn):
        def render(self, task) -> Text:
            return Text(
                f"{scenario_time(task.completed, long=long)} of {scenario_time(duration_s, long=long)}"
            )

    class Eta(ProgressColumn):
        def render(self, task) -> Text:
            elapsed = task.elapsed
            if not task.completed or not elapsed:
                return Text("ETA -:--:--")
            left = elapsed * (task.total - task.completed) / task.completed
            minutes, secs = divmod(round(left), 60)
            hours, minutes = divmod(minutes, 60)
            return Text(f"ETA {hours}:{minutes:02d}:{secs:02d}")

    class ScenarioProgress(Progress):
        def get_renderables(self):
            for task in self.tasks:
                task.completed = min(max(now(), 0.0), total)
            yield from super().get_renderables()

    with ScenarioProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        ScenarioTime(),
        TextColumn("{task.fields[done]:,}" + (f"/{records:,}" if records is not None else "") + f" {unit}"),
        TimeElapsedColumn(),
        Eta(),
        console=console,
        transient=True,
        **({} if get_time is None else {"get_time": get_time}),
    ) as progress:
        task = progress.add_task(description, total=total, done=0)

        def update(done: int) -> None:
            progress.update(task, done=done)

        yield update


def history_summary(console: Console, summary: dict) -> None:
    """The final report of run --start-at/--end-at: the window written, and what each signal did."""
    window = summary["window"]
    console.print(
        f"{escape(summary['scenario'])}: {counted(summary['sessions'], 'session')} as history"
        f" from {window['start']} to {window['end']}, sent in {summary['seconds']:.1f}s"
    )
    table = Table(show_edge=False)
    for col in ("signal", "destination", "requests", "accepted", "failed", "items accepted"):
        table.add_column(col, justify="right" if col not in ("signal", "destination") else "left")
    for t in summary["signals"]:
        failed = t["failed"]
        table.add_row(
            t["signal"],
            escape(t["destination"]),
            f"{t['requests']:,}",
            f"{t['accepted']:,}",
            f"[red]{failed:,}[/]" if failed else "0",
            f"{t['items_accepted']:,}",
        )
    console.print(table)
    for t in summary["signals"]:
        if t["first_failure"]:
            console.print(f"[red]{t['signal']}[/]: {escape(t['first_failure'])}")
    if summary["interrupted"] or summary["aborted"]:
        console.print(f"[yellow]stopped[/] at {summary['reached']}: what came later was not sent")


def export_summary(console: Console, summary: dict) -> None:
    """The one line `export` ends with: what was written where, and the time it covers."""
    where = "stdout" if summary["out"] == "-" else escape(summary["out"])
    if summary["format"] == "openmetrics":
        what = (
            f"{counted(summary['samples'], 'sample')} of {counted(summary['series'], 'series')}"
            f" ({summary['naming']} names)"
        )
        first, last = summary["first_sample"], summary["last_sample"]
    else:
        what = f"{counted(summary['lines'], 'request')} ({', '.join(summary['signals'])})"
        first, last = summary["first_request"], summary["last_request"]
    span = f"from {first} to {last}" if first else "nothing in the window"
    console.print(
        f"wrote {where}: {what}, {span}, {counted(summary['lines'], 'line')} in {summary['seconds']:.1f}s",
        soft_wrap=True,
    )


def _fmt_value(v: float) -> str:
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.6f}".rstrip("0").rstrip(".")


def run_summary(console: Console, summary: dict) -> None:
    """The final report of `run`: what was recorded, and what each exporter did with it."""
    duration = format_duration(summary["simulated_seconds"])
    title = f"{escape(summary['scenario'])}: {counted(summary['sessions'], 'session')}, {duration}"
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("metric recorded")
    table.add_column("series", justify="right")
    table.add_column("total", justify="right")
    for name, info in summary["metrics"].items():
        table.add_row(name, str(info["series"]), _fmt_value(info["total"]))
    console.print(table)
    if summary["events"]:
        events = Table(show_edge=False)
        events.add_column("event recorded")
        events.add_column("count", justify="right")
        for name, n in summary["events"].items():
            events.add_row(name, str(n))
        console.print(events)
    if summary.get("spans"):
        spans = Table(show_edge=False)
        spans.add_column("span recorded")
        spans.add_column("count", justify="right")
        for name, n in summary["spans"].items():
            spans.add_row(name, str(n))
        console.print(spans)
    if summary["exporters"]:
        ex = Table(show_edge=False)
        numbers = ("requests", "sent", "failed", "items sent")  # scrapes, for prometheus
        for col in ("signal", "exporter", "destination", *numbers):
            ex.add_column(col, justify="right" if col in numbers else "left")
        for s in summary["exporters"]:
            failed = s["failed_requests"]
            ex.add_row(
                s["signal"],
                s["exporter"],
                escape(s["destination"]),
                str(s["requests"]),
                str(s["sent_requests"]),
                f"[red]{failed}[/]" if failed else "0",
                str(s["items"]),
            )
        console.print(ex)
        if any(s["failed_requests"] for s in summary["exporters"]):
            console.print(
                "failed: requests not answered with success, including those cut off or never sent once the"
                " replay stopped"
            )
    else:
        console.print("[yellow]nothing was exported[/] (see the warnings above)")
    if summary.get("interrupted"):
        console.print("[yellow]interrupted[/]: the summary covers what was replayed until then")
    if summary.get("aborted"):
        console.print(f"[bold red]export failed:[/] {escape(summary['aborted'])}", soft_wrap=True)


def _signal_rows(s: dict) -> list[tuple[str, str]]:
    rows = [("exporters", ", ".join(s["exporters"]) or "(none)")]
    if "otlp" in s["exporters"]:
        rows.append(("protocol", s["protocol"] or "(none)"))
        rows.append(("endpoint", s["endpoint"] or "(none)"))
        if s["headers"]:
            rows.append(("headers", ", ".join(f"{k}={v}" for k, v in s["headers"].items())))
        tls = s["grpc_tls"] if s["protocol"] == "grpc" else s["http_tls"]
        for key, value in tls.items():
            if value:
                rows.append((key, str(value)))
    if s.get("disabled_reason"):
        rows.append(("exports nothing", s["disabled_reason"]))
    return rows


def config_view(console: Console, view: dict) -> None:
    console.print(
        f"telemetry [bold]{'enabled' if view['enabled'] else 'disabled'}[/],"
        f" profile [bold]{view['profile']}[/], temporality [bold]{view['temporality']}[/]"
    )
    table = Table(show_header=False, show_edge=False, box=None, padding=(0, 2))
    table.add_column("signal", style="bold")
    table.add_column("key")
    table.add_column("value", overflow="fold")
    intervals = {
        "metrics": view["metric_export_interval_ms"],
        "logs": view["logs_export_interval_ms"],
        "traces": view.get("traces_export_interval_ms"),
    }
    for signal in ("metrics", "logs", "traces"):
        if signal not in view:
            continue
        rows = _signal_rows(view[signal]) + [("interval", f"{intervals[signal]} ms")]
        if signal == "metrics" and "prometheus" in view["metrics"]["exporters"]:
            prom = view["prometheus"]
            rows.append(("prometheus", f"http://{prom['host']}:{prom['port']}/metrics"))
        for i, (key, value) in enumerate(rows):
            table.add_row(signal if i == 0 else "", key, escape(value))
    console.print(table)
    values = view.get("values", {})
    if values:
        table = Table(
            title="variables (effective value and where it came from)", title_justify="left", show_edge=False
        )
        table.add_column("variable")
        table.add_column("value", overflow="fold")
        table.add_column("source", overflow="fold")
        for name, v in values.items():
            table.add_row(name, escape(str(v["value"])), escape(v["source"]))
        console.print(table)
    client = view.get("client", {})
    if client:
        table = Table(
            title="client attributes (on every point and event, unless a scenario session sets them)",
            title_justify="left",
            show_edge=False,
        )
        table.add_column("attribute")
        table.add_column("value", overflow="fold")
        table.add_column("source", overflow="fold")
        for name, v in client.items():
            table.add_row(name, escape(str(v["value"])), escape(v["source"]))
        console.print(table)
    if view.get("settings_files"):
        console.print("settings files read: " + escape(", ".join(view["settings_files"])), soft_wrap=True)
    for r in view.get("removed", []):
        console.print(
            "[yellow]removed by managed settings:[/] "
            + escape(f"{r['variable']} ({r['source']}): {r['reason']}")
        )
    for w in view.get("warnings", []):
        warning(console, w)


def catalog(console: Console, data: dict) -> None:
    console.print(f"profile [bold]{data['profile']}[/]: {data['description']}")
    table = Table(title="metrics", title_justify="left", show_edge=False)
    table.add_column("name", no_wrap=True)
    for col in ("unit", "description", "attributes"):
        table.add_column(col)
    for m in data["metrics"]:
        table.add_row(m["name"], m["unit"] or "(none)", m["description"], ", ".join(m["attributes"]))
    console.print(table)
    if data["events"]:
        table = Table(title="events", title_justify="left", show_edge=False)
        table.add_column("name", no_wrap=True)
        for col in ("description", "attributes"):
            table.add_column(col)
        for e in data["events"]:
            attrs = ", ".join(f"{a['key']}:{a['type']}" for a in e["attributes"])
            table.add_row(e["name"], e["description"], attrs)
        console.print(table)
    table = Table(title="standard attributes", title_justify="left", show_edge=False)
    table.add_column("attribute")
    table.add_column("when")
    for a in data["standard_attributes"]:
        table.add_row(a["key"], a["description"])
    console.print(table)


def scenario_list(console: Console, rows: Iterable[dict]) -> None:
    table = Table(show_edge=False)
    for col in ("name", "sessions", "duration", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            escape(r["name"]), str(r["sessions"]), format_duration(r["duration"]), escape(r["description"])
        )
    console.print(table)


def totals(console: Console, data: dict) -> None:
    table = Table(title="metrics", title_justify="left", show_edge=False)
    table.add_column("name")
    table.add_column("attributes")
    table.add_column("value", justify="right")
    for m in data["metrics"]:
        attrs = ", ".join(f"{k}={v}" for k, v in m["attributes"].items())
        table.add_row(escape(m["name"]), escape(attrs), _fmt_value(m["value"]))
    console.print(table)
    if data["events"]:
        table = Table(title="events", title_justify="left", show_edge=False)
        table.add_column("name")
        table.add_column("count", justify="right")
        for name, n in data["events"].items():
            table.add_row(escape(name), str(n))
        console.print(table)


# --------------------------------------------------------------------------- receiving


def _reception_tables(snapshot: dict) -> list:
    head = Table(show_header=False, show_edge=False, box=None, padding=(0, 2))
    head.add_column("what", style="bold")
    head.add_column("value")
    head.add_row("sessions", str(snapshot["sessions"]))
    head.add_row("points", f"{snapshot['points']:,}")
    head.add_row("events", f"{snapshot['events']:,}")
    if snapshot.get("spans"):
        head.add_row("spans", f"{snapshot['spans']:,}")
    for key, n in snapshot["requests"].items():
        head.add_row("requests", f"{key}: {n:,}")
    for key, n in snapshot["errors"].items():
        head.add_row("[red]refused[/]", f"{key}: {n:,}")
    tables = [head]
    if snapshot["points_by_name"] or snapshot["events_by_name"]:
        names = Table(show_edge=False)
        names.add_column("metric or event")
        names.add_column("received", justify="right")
        for name, n in snapshot["points_by_name"].items():
            names.add_row(escape(name), counted(n, "point"))
        for name, n in snapshot["events_by_name"].items():
            names.add_row(escape(name), f"{n:,}")
        tables.append(names)
    if snapshot.get("spans_by_name"):
        spans = Table(show_edge=False)
        spans.add_column("span")
        spans.add_column("received", justify="right")
        for name, n in snapshot["spans_by_name"].items():
            spans.add_row(escape(name), f"{n:,}")
        tables.append(spans)
    return tables


def reception_view(snapshot: dict, title: str):
    """The live view while receiving."""
    from rich.console import Group
    from rich.panel import Panel

    return Panel(Group(*_reception_tables(snapshot)), title=title, title_align="left")


def reception_summary(console: Console, snapshot: dict) -> None:
    for table in _reception_tables(snapshot):
        console.print(table)


def verdict(console: Console, v, *, seconds: float, limit: int = 20) -> None:
    def what(series: int, events: int, spans: int) -> str:
        if not v.spans_verified:
            return f"{counted(series, 'series')} and {counted(events, 'event')}"
        return f"{counted(series, 'series')}, {counted(events, 'event')} and {counted(spans, 'span')}"

    expected = what(v.expected_series, v.expected_events, v.expected_spans)
    if v.ok:
        console.print(f"[bold green]verified[/]: exactly the expected {expected} arrived ({seconds:.1f}s)")
        return
    received = what(v.received_series, v.received_events, v.received_spans)
    console.print(
        f"[bold red]verification failed[/]: {counted(len(v.mismatches), 'difference')}; expected {expected},"
        f" received {received}"
    )
    _differences(console, v, limit)


def _differences(console: Console, v, limit: int) -> None:
    """One line per name that differs, then the per-series lines, `limit` of them at most."""
    report = v.roll_up()
    for line in report.lines:
        console.print(f"  {_one_line(line)}", highlight=False, soft_wrap=True)
    if not report.details:
        return
    console.print("in detail:", highlight=False)
    for m in report.first_details(limit):
        console.print(f"  {_one_line(m.describe())}", highlight=False, soft_wrap=True)
    if len(report.details) > limit:
        console.print(
            f"  ... and {len(report.details) - limit} more (--json lists them all)", highlight=False
        )


def smoke_line(case) -> str:
    mark = "[green]ok[/]" if case.ok else "[red]FAILED[/]"
    return f"{mark}  {case.protocol:<13} {case.temporality:<10} {case.seconds:5.2f}s"


def smoke_table(console: Console, scenario: str, cases) -> None:
    table = Table(title=f"smoke test: {scenario}", title_justify="left", show_edge=False)
    for col in ("protocol", "temporality", "records", "requests", "result", "time"):
        table.add_column(col, justify="right" if col in ("records", "requests", "time") else "left")
    for c in cases:
        table.add_row(
            c.protocol,
            c.temporality,
            str(c.records),
            str(c.requests),
            "[green]verified[/]" if c.ok else "[red]FAILED[/]",
            f"{c.seconds:.2f}s",
        )
    console.print(table)
    for c in cases:
        if c.ok:
            continue
        console.print(f"[red]{c.protocol} {c.temporality}[/]: {escape(c.error or '')}", soft_wrap=True)
        if c.verdict is not None and not c.verdict.ok:
            _differences(console, c.verdict, 10)
    passed = sum(c.ok for c in cases)
    colour = "green" if passed == len(cases) else "red"
    console.print(f"[bold {colour}]{passed}/{len(cases)} verified[/]")


def load_report_data(stats, elapsed_s: float, *, sessions_target: int | None) -> dict:
    """The numbers of a load run, as `load --json` prints them and the report shows them."""
    seconds = max(elapsed_s, 1e-9)
    by_code: dict[str, dict[str, int]] = {}
    for (signal, kind, code), n in sorted(stats.requests.items()):
        by_code.setdefault(kind, {})
        label = f"{signal} {code}"
        by_code[kind][label] = by_code[kind].get(label, 0) + n
    latency = stats.latency
    sessions = max(stats.sessions_active, 1)
    return {
        "seconds": round(elapsed_s, 3),
        "requests": {
            "sent": stats.count(),
            "accepted": stats.count("accepted"),
            "rejected": stats.count("rejected"),
            "failed": stats.count("failed"),
            "retries": stats.retries,
            "by_outcome": by_code,
        },
        "error_rate": round(stats.error_rate, 6),
        "points": {"sent": stats.points_sent, "acknowledged": stats.points_acked},
        "events": {"sent": stats.events_sent, "acknowledged": stats.events_acked},
        "spans": {"sent": stats.spans_sent, "acknowledged": stats.spans_acked},
        "bytes_sent": stats.bytes_sent,
        "throughput": {
            "requests_per_s": round(stats.count() / seconds, 1),
            "points_per_s": round(stats.points_sent / seconds, 1),
            "events_per_s": round(stats.events_sent / seconds, 1),
            "bytes_per_s": round(stats.bytes_sent / seconds, 1),
        },
        "latency_ms": {
            "p50": round(latency.percentile(0.5) * 1000, 3),
            "p90": round(latency.percentile(0.9) * 1000, 3),
            "p99": round(latency.percentile(0.99) * 1000, 3),
            "max": round(latency.max_s * 1000, 3),
        },
        "sessions": {
            "target": sessions_target,
            "active": stats.sessions_active,
            "started": stats.sessions_started,
        },
        "schedule_lag_max_s": round(stats.lag_max_s, 3),
        # The workers' own processor time: near one core per worker, the load generator is the limit.
        "cpu": {
            "seconds": round(stats.cpu_s, 3),
            "cores": round(stats.cpu_s / seconds, 3),
            "per_request_us": round(stats.cpu_s / stats.count() * 1e6, 1) if stats.count() else None,
        },
        "memory": {
            "peak_rss_bytes": stats.peak_rss_bytes,
            # What the sessions cost on top of the workers' start-up (interpreter, activity templates).
            "per_session_bytes": (
                round(max(0, stats.peak_rss_bytes - stats.baseline_rss_bytes) / sessions)
                if sessions_target
                else None
            ),
        },
    }


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GiB"


def load_tables(data: dict, title: str) -> list:
    """The live view and the final report of `load`: the same tables."""
    req, thr, lat = data["requests"], data["throughput"], data["latency_ms"]
    head = Table(title=title, title_justify="left", show_edge=False, show_header=False)
    head.add_column("what")
    head.add_column("value", justify="right")
    failed = req["rejected"] + req["failed"]
    if "recent" in data:  # the live view: the last seconds, not the average since the start
        now = data["recent"]
        head.add_row(
            "now",
            f"{now['requests_per_s']:,.0f} req/s, {now['points_per_s']:,.0f} points/s,"
            f" {now['events_per_s']:,.0f} events/s",
        )
    head.add_row("requests sent", f"{req['sent']:,} ({thr['requests_per_s']:,.1f}/s)")
    head.add_row("accepted", f"{req['accepted']:,}")
    head.add_row(
        "rejected / failed", f"[red]{req['rejected']:,} / {req['failed']:,}[/]" if failed else "0 / 0"
    )
    head.add_row("retries", f"{req['retries']:,}")
    pts, evs = data["points"], data["events"]
    head.add_row(
        "points sent / acknowledged",
        f"{pts['sent']:,} / {pts['acknowledged']:,} ({thr['points_per_s']:,.0f}/s)",
    )
    head.add_row(
        "events sent / acknowledged",
        f"{evs['sent']:,} / {evs['acknowledged']:,} ({thr['events_per_s']:,.0f}/s)",
    )
    spans = data.get("spans")
    if spans and spans["sent"]:
        head.add_row("spans sent / acknowledged", f"{spans['sent']:,} / {spans['acknowledged']:,}")
    head.add_row("bytes sent", f"{_size(data['bytes_sent'])} ({_size(thr['bytes_per_s'])}/s)")
    head.add_row(
        "latency p50 / p90 / p99 / max",
        f"{lat['p50']:.1f} / {lat['p90']:.1f} / {lat['p99']:.1f} / {lat['max']:.1f} ms",
    )
    sessions = data["sessions"]
    if sessions["target"]:
        head.add_row("sessions active / started", f"{sessions['active']:,} / {sessions['started']:,}")
        head.add_row("behind schedule (max)", f"{data['schedule_lag_max_s']:.2f} s")
    cpu = data["cpu"]
    if cpu["seconds"]:
        per = f", {cpu['per_request_us']:,.0f} µs/request" if cpu["per_request_us"] else ""
        head.add_row("CPU (all workers)", f"{cpu['seconds']:,.1f} s, {cpu['cores']:.2f} cores{per}")
    memory = data["memory"]
    if memory["peak_rss_bytes"]:
        per = f", {_size(memory['per_session_bytes'])}/session" if memory["per_session_bytes"] else ""
        head.add_row("peak memory (all workers)", f"{_size(memory['peak_rss_bytes'])}{per}")
    tables = [head]
    outcomes = data["requests"]["by_outcome"]
    if any(kind != "accepted" for kind in outcomes):
        codes = Table(show_edge=False)
        codes.add_column("outcome")
        codes.add_column("signal and code")
        codes.add_column("requests", justify="right")
        for kind, rows in outcomes.items():
            for label, n in rows.items():
                codes.add_row(kind, label, f"{n:,}")
        tables.append(codes)
    return tables


def load_view(data: dict, title: str):
    from rich.console import Group

    return Group(*load_tables(data, title))


def load_report(console: Console, data: dict, title: str) -> None:
    for table in load_tables(data, title):
        console.print(table)


# --------------------------------------------------------------------------- generating


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def generation_report(console: Console, report: dict, *, title: str) -> None:
    """`generate --report`: published target, generated figure and a check mark, then the statistics;
    `report` is what `generate --json` prints."""
    s = report["statistics"]
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("figure")
    table.add_column("published", justify="right")
    table.add_column("generated", justify="right")
    table.add_column("", justify="center")
    for row in report["targets"]:
        value = row["generated"]
        if row["unit"] == "$":
            shown = _money(value)
        elif value is None:
            shown = "n/a"
        else:
            shown = f"{value:,.0f}" if value >= 1000 else f"{value:.3f}"
        mark = "[green]✓[/]" if row["ok"] else "[red]✗[/]"
        table.add_row(row["figure"], row["published"], shown, mark)
    console.print(table)
    requests = s["requests"]
    tokens = s["tokens"]
    lines = [
        f"{counted(s['developers'], 'developer')}, {counted(s['teams'], 'team')},"
        f" {counted(s['orgs'], 'org')}, {counted(s['days'], 'day')} "
        f"({s['working_days']} working): {s['sessions']:,} sessions on {s['active_developer_days']:,} "
        f"active developer-days, {s['bytes'] / 1e6:,.1f} MB of YAML",
        f"requests {requests['total']:,} (main {requests['main']:,}, subagent {requests['subagent']:,}, "
        f"auxiliary {requests['auxiliary']:,}); peak hour {s['peak_hour_rpm_per_user']:.3f} RPM per user",
        f"tokens {tokens['total']:,}: cache reads {_pct(s['cache_read_share_of_input'])} of input; "
        f"total cost {_money(s['cost_usd'])}",
        # Not a check: the guidance does not say which tokens it counts, and cache reads, most of them,
        # no longer count towards input-token rate limits on current models.
        f"tokens per minute per user {_k(s['tpm_per_user'])} ({_k(s['tpm_per_user_without_cache_reads'])} "
        f"without cache reads); rate-limit guidance for {s['guidance_row']} users: "
        f"{_k(s['guidance_tpm'][0])}-{_k(s['guidance_tpm'][1])}",
        f"cost per active day: median {_money(s['median_cost_per_active_day'])}, "
        f"max {_money(s['max_cost_per_active_day'])}; per developer-month: median "
        f"{_money(s['median_cost_per_developer_month'])}, p90 {_money(s['p90_cost_per_developer_month'])}, "
        f"max {_money(s['max_cost_per_developer_month'])}",
        f"API errors {sum(s['api_errors'].values()):,} ({_pct(s['error_rate'], 2)} of requests): "
        + (", ".join(f"{k} {v:,}" for k, v in s["api_errors"].items()) or "none")
        + _worst_hour(s["worst_error_hour"]),
        f"commits {s['commits']:,}, pull requests {s['pull_requests']:,}, tool calls {s['tool_calls']:,} "
        f"({s['tool_failures']:,} failed, {s['tool_rejects']:,} rejected), edits "
        f"{s['edits_accepted']:,} accepted / {s['edits_rejected']:,} rejected, "
        f"+{s['lines_added']:,} -{s['lines_removed']:,} lines",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"[dim]sources: {'; '.join(report['sources'])}[/]", highlight=False, soft_wrap=True)


def _worst_hour(worst: dict | None) -> str:
    if worst is None:
        return ""
    return (
        f"; worst hour day {worst['day']} {worst['utc_hour']:02d}:00 UTC: {worst['errors']:,} errors for "
        f"{worst['requests']:,} requests"
    )


def _k(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1000:,.1f}".removesuffix(".0") + "k"


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"
