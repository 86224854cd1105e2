"""Simulated Claude Code sessions as Locust users, exporting OTLP metrics, events and (traced) spans.

    locust -f claude_telemetry_cli/locust/locustfile.py --headless -u 100 -r 10 -t 5m
    locust -f claude_telemetry_cli/locust/locustfile.py --master --ct-totals-out totals.json
    locust -f claude_telemetry_cli/locust/locustfile.py --worker --master-host MASTER

Configured like `claude-telemetry run` and `load`, from the environment of each process
(CLAUDE_CODE_ENABLE_TELEMETRY, OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER, OTEL_TRACES_EXPORTER with
CLAUDE_CODE_ENHANCED_TELEMETRY_BETA, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_ENDPOINT, headers,
TLS, export intervals, temporality). Each user is one simulated session with its own session.id and
user.id: metrics every metric interval from its start (--ct-interval overrides
OTEL_METRIC_EXPORT_INTERVAL), events (and spans) an interval after the first one pending, and at the end
of its activity the events, spans, then metrics still pending; then a fresh session takes its place.

Every export is a Locust request: type OTLP/grpc or OTLP/http, name metrics, logs or traces, failed when
the collector did not accept it. With --ct-totals-out FILE, the master (or the single process) asks every
worker for the totals of what the collector acknowledged when the test stops (counts, sums, and what the
events and spans carry), and writes their sum to FILE once all of them have answered: what
`claude-telemetry receive --expect-totals FILE` must see.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gevent
from gevent import monkey
from gevent.event import AsyncResult, Event
from gevent.pool import Group
from gevent.queue import Queue
from locust import User, events, task
from locust.exception import StopUser
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from claude_telemetry_cli.clock import RealClock
from claude_telemetry_cli.errors import TelemetryError, UsageError

logger = logging.getLogger("claude_telemetry")
_clock = RealClock()  # the sessions' schedule and every wait of this process

_TOTALS_MESSAGE = "claude_telemetry_totals"  # worker -> master: what the collector acknowledged
_STOP_MESSAGE = "claude_telemetry_stop"  # master -> workers: stop, and send your totals
# Locust has no -e: the variables come from each process's environment or Claude Code settings files.
LOCUST_SETS_VARIABLES = (
    "export it before starting locust, on the master and every worker, or put it in the env of"
    " ~/.claude/settings.json"
)
_REQUEST_TYPES = {"grpc": "OTLP/grpc", "http/protobuf": "OTLP/http"}
_NUMBER_BITS = 40  # session numbers: worker index << 40 | the process's own counter


def _init_grpc_for_gevent() -> None:
    """gRPC's core runs its own threads; under gevent it must use gevent's loop instead, and be told so
    before any channel exists."""
    if monkey.is_module_patched("socket"):
        import grpc.experimental.gevent

        grpc.experimental.gevent.init_gevent()


_init_grpc_for_gevent()


# -- options ---------------------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    def option(name: str, **kwargs) -> None:
        env = "LOCUST_" + name.lstrip("-").upper().replace("-", "_")
        parser.add_argument(name, env_var=env, include_in_web_ui=False, **kwargs)

    option(
        "--ct-preset",
        default="enterprise",
        metavar="NAME|FILE",
        help="Claude Code telemetry: generator preset the sessions' activity comes from [enterprise].",
    )
    option("--ct-seed", type=int, default=1, help="Same seed, same sessions and identities [1].")
    option(
        "--ct-interval",
        default=None,
        metavar="DURATION",
        help="Metric export interval (default: OTEL_METRIC_EXPORT_INTERVAL, else 60s).",
    )
    option(
        "--ct-totals-out",
        default=None,
        metavar="FILE",
        help="On the master (or a single process): write the exact totals the collector acknowledged, "
        "for `claude-telemetry receive --expect-totals FILE`.",
    )
    option(
        "--ct-export-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="Give up on one export after this long, retries included [10].",
    )
    option("--ct-profile", default="current", help="Contract profile (Claude Code version) [current].")


@dataclass(frozen=True)
class Settings:
    """The --ct-* options, checked, with the configuration they apply to."""

    preset: str
    seed: int
    metric_interval_s: float
    logs_interval_s: float
    export_timeout_s: float
    totals_out: Path | None
    profile: str

    @classmethod
    def parse(cls, options, config) -> Settings:
        from claude_telemetry_cli.durations import parse_duration

        interval = getattr(options, "ct_interval", None)
        if interval in (None, ""):
            metric_interval_s = config.metric_export_interval_ms / 1000
        else:
            try:
                metric_interval_s = parse_duration(interval)
            except ValueError as exc:
                raise UsageError(f"--ct-interval: {exc}") from None
            if metric_interval_s <= 0:
                raise UsageError("--ct-interval: must be more than 0")
        try:
            seed = int(getattr(options, "ct_seed", 1))
            timeout_s = float(getattr(options, "ct_export_timeout", 10.0))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--ct-seed/--ct-export-timeout: {exc}") from None
        if seed < 0:
            raise UsageError("--ct-seed: must be 0 or more")
        if timeout_s <= 0:
            raise UsageError("--ct-export-timeout: must be more than 0")
        totals = getattr(options, "ct_totals_out", None)
        return cls(
            preset=str(getattr(options, "ct_preset", "enterprise")),
            seed=seed,
            metric_interval_s=metric_interval_s,
            logs_interval_s=config.logs_export_interval_ms / 1000,
            export_timeout_s=timeout_s,
            totals_out=Path(totals) if totals else None,
            profile=str(getattr(options, "ct_profile", "current")),
        )


def load_checked_config(profile: str):
    """The telemetry configuration of this process's environment, as `load` requires it."""
    from claude_telemetry_cli.load import check_load_config
    from claude_telemetry_cli.settings import load_config

    config = load_config(profile=profile)
    check_load_config(config, where=LOCUST_SETS_VARIABLES)
    return config


def check_settings(options) -> tuple[Settings, object]:
    """Everything a bad option or environment can break, as one UsageError/ConfigError line."""
    from claude_telemetry_cli.scenario.generate import load_preset

    config = load_checked_config(str(getattr(options, "ct_profile", "current")))
    settings = Settings.parse(options, config)
    if settings.totals_out is not None:
        from claude_telemetry_cli.load import check_load_config

        check_load_config(config, totals=True, where=LOCUST_SETS_VARIABLES)
        if not settings.totals_out.parent.is_dir():
            raise UsageError(f"--ct-totals-out: no directory {settings.totals_out.parent}")
    load_preset(settings.preset)
    return settings, config


# -- this process's share of the fleet -------------------------------------------------------------


class ExportFailed(Exception):
    """An export the collector did not accept: Locust counts it as a failure."""


class Fleet:
    """The sessions of one Locust process: configuration, senders, activity (built once per process),
    session numbers, and the totals of what the collector acknowledged."""

    def __init__(self, environment) -> None:
        self.environment = environment
        self.settings: Settings | None = None
        self.config = None
        self.encoder = None
        self.senders: dict = {}
        self.request_types: dict[str, str] = {}
        self.templates: list | None = None
        self.sessions = None  # a load.session.SessionContext once a test is prepared
        self.totals = None  # a TotalsBuilder while the master wants totals
        self.error: str | None = None  # why this process could not run its sessions
        self.exporters = Group()
        self.idle = Event()  # no test running, every export finished and counted
        self.idle.set()
        self._numbers = itertools.count()
        self._builds: dict[tuple, object] = {}
        self._abort = threading.Event()

    def worker_index(self) -> int:
        index = getattr(self.environment.runner, "worker_index", 0)
        return index if isinstance(index, int) and index >= 0 else 0

    def templates_for(self, settings: Settings, config):
        """The activity of (preset, seed, profile), compiled once per process in a thread of the hub's
        pool, so heartbeats to the master go on meanwhile."""
        tracing = config.traces.otlp_enabled
        key = (settings.preset, settings.seed, settings.profile, tracing)
        build = self._builds.get(key)
        if build is None:
            from claude_telemetry_cli.load.activity import build_templates

            build = self._builds[key] = gevent.get_hub().threadpool.spawn(
                build_templates, settings.preset, seed=settings.seed, options=config.emit, tracing=tracing
            )
        return build

    def prepare(self, options) -> None:
        """At the start of a test: the options (on a worker, the master's), the senders, the activity."""
        from claude_telemetry_cli.contract import get_profile
        from claude_telemetry_cli.load.acknowledged import AcknowledgedTotals
        from claude_telemetry_cli.load.session import SessionContext
        from claude_telemetry_cli.load.transport import build_sender
        from claude_telemetry_cli.otlp.encode import OtlpEncoder

        self.idle.clear()
        self.error = None
        self.totals = None
        try:
            settings, config = check_settings(options)
            profile = get_profile(config.profile)
            self.close_senders()
            self._abort = threading.Event()
            senders = {}
            if config.metrics.otlp_enabled:
                senders["metrics"] = build_sender(config.metrics, settings.export_timeout_s, stop=self._abort)
            if config.logs.otlp_enabled and profile.emits_events:
                senders["logs"] = build_sender(config.logs, settings.export_timeout_s, stop=self._abort)
            if config.traces.otlp_enabled:
                senders["traces"] = build_sender(config.traces, settings.export_timeout_s, stop=self._abort)
            templates = self.templates_for(settings, config).get()
        except TelemetryError as exc:
            self.error = exc.message
            return
        except Exception as exc:  # the activity could not be built: one line, not a traceback
            self.error = (
                f"cannot compile the activity of the {settings.preset} preset: {type(exc).__name__}: {exc}"
            )
            return
        if not templates:
            self.error = f"the {settings.preset} preset has no sessions with telemetry"
            return
        self.settings, self.config, self.senders, self.templates = settings, config, senders, templates
        self.encoder = OtlpEncoder(profile, config.temporality)
        # What every session of this process shares: the session schedule is load/session.py's.
        self.sessions = SessionContext(
            self.encoder,
            settings.metric_interval_s,
            settings.logs_interval_s,
            clock0=_clock.now(),
            wall0_ns=time.time_ns(),
            temporality=config.temporality,
            metrics_on="metrics" in senders,
            logs_on="logs" in senders,
            track_totals=options is not None and bool(getattr(options, "ct_totals_out", None)),
            traces_on="traces" in senders,
            traces_interval_s=config.traces_export_interval_ms / 1000,
        )
        self.request_types = {s: _REQUEST_TYPES[getattr(config, s).protocol] for s in senders}
        if options is not None and getattr(options, "ct_totals_out", None):
            self.totals = AcknowledgedTotals()
        logger.info(
            "%d simulated session templates from the %s preset -> %s",
            len(templates),
            settings.preset,
            ", ".join(f"{s} {getattr(config, s).endpoint}" for s in senders),
        )

    def begin(self, start: float):
        """A fresh simulated session starting at `start` (a _clock time), numbered apart from every
        other user's, in every process."""
        number = (self.worker_index() << _NUMBER_BITS) | next(self._numbers)
        return self.sessions.begin(self.templates, self.settings.seed, number, start)

    def export(self, request) -> None:
        """Send one request; report it to Locust; count what was acknowledged."""
        sender = self.senders[request.signal]
        outcome = sender.send(request.body)
        exception = None
        if outcome.ok:
            if self.totals is not None:
                self.totals.add(request)
        else:
            code = f"HTTP {outcome.code}" if outcome.code.isdigit() else outcome.code
            verb = "rejected" if outcome.rejected else "failed"
            exception = ExportFailed(f"{request.signal} export to {sender.destination} {verb}: {code}")
        self.environment.events.request.fire(
            request_type=self.request_types[request.signal],
            name=request.signal,
            response_time=outcome.latency_s * 1000,
            response_length=len(request.body),
            exception=exception,
            context={},
        )

    def finish(self) -> None:
        """At the end of a test, once the users are stopped: wait for the exports in flight."""
        if self.settings is not None:
            limit = self.settings.export_timeout_s + 2.0
            if not self.exporters.join(timeout=limit):
                self._abort.set()
                self.exporters.kill(block=True, timeout=2.0)
                if self.totals is not None:
                    self.error = f"exports were still in flight {limit:g}s after the stop"
        self.idle.set()

    def report(self) -> dict:
        """What this process sends the master: its totals, or why it has none."""
        if self.error is not None:
            return {"error": self.error, "totals": None}
        if self.totals is None:  # this process ran no test that tracked them: it acknowledged nothing
            return {"error": None, "totals": {"metrics": [], "events": {}, "content": {}}}
        return {"error": None, "totals": self.totals.totals().to_json()}

    def close_senders(self) -> None:
        for sender in self.senders.values():
            sender.close()
        self.senders = {}


_fleet: Fleet | None = None


# -- the user --------------------------------------------------------------------------------------


class _Exporter:
    """Sends one session's requests, one at a time, from a greenlet of its own (with its own HTTP
    connection, as each Claude Code process has). A user stopped in the middle of an export leaves it to
    finish and be counted; a request not yet started when the user stopped is dropped, never sent."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._inbox: Queue = Queue()
        self._closed = False
        fleet.exporters.spawn(self._run)

    def send(self, request) -> None:
        done = AsyncResult()
        self._inbox.put((request, done))
        done.get()

    def close(self) -> None:
        self._closed = True
        self._inbox.put(None)

    def _run(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None or self._closed:
                return
            request, done = item
            try:
                self._fleet.export(request)
            except Exception as exc:  # a bug, not the collector: reported once per request, one line
                logger.error("export failed unexpectedly: %s: %s", type(exc).__name__, exc)
            finally:
                done.set()


class ClaudeCodeSession(User):
    """One simulated Claude Code process; when its session ends, a fresh one takes its place."""

    _exporter: _Exporter | None = None
    _player = None

    def on_start(self) -> None:
        fleet = _fleet
        if fleet is None or fleet.error is not None or fleet.templates is None:
            return  # this process cannot run sessions (said once, at the test start): the task stops
        self._fleet = fleet
        self._exporter = _Exporter(fleet)
        self._player = fleet.begin(_clock.now())

    def wait_time(self) -> float:
        due = self._player.next_due if self._player is not None else None
        return 0.0 if due is None else max(0.0, due - _clock.now())

    @task
    def export(self) -> None:
        """Everything due by now, in order; at the session's end, the next session begins."""
        player = self._player
        if player is None:
            raise StopUser()
        while (due := player.next_due) is not None and due <= _clock.now():
            for request in player.step():
                self._exporter.send(request)
        if player.ended:
            self._player = self._fleet.begin(player.end)

    def on_stop(self) -> None:
        if self._exporter is not None:
            self._exporter.close()


# -- lifecycle: checks at start-up, the activity per test, totals at the stop ---------------------


def _fail(message: str, runner=None) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    if isinstance(runner, WorkerRunner):
        runner.send_message("quit")  # the master forgets this worker instead of waiting for it
    sys.exit(2)


class _Collector:
    """On the master: the totals each worker sent, by worker id, for the test that is stopping."""

    def __init__(self) -> None:
        self.parts: dict[str, dict] = {}
        self.arrived = Event()

    def on_message(self, environment, msg, **_kwargs) -> None:
        self.parts[msg.node_id] = msg.data if isinstance(msg.data, dict) else {"error": "no totals"}
        self.arrived.set()


_collector = _Collector()


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs) -> None:
    global _fleet
    options = environment.parsed_options
    if options is None:
        return
    try:
        settings, config = check_settings(options)
    except TelemetryError as exc:
        _fail(exc.message, runner)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    if isinstance(runner, MasterRunner):
        runner.register_message(_TOTALS_MESSAGE, _collector.on_message)
        return
    _fleet = Fleet(environment)
    if isinstance(runner, WorkerRunner):
        runner.register_message(_STOP_MESSAGE, _on_stop_message, concurrent=True)
    # Compiled now, before the test starts: the run time is spent running sessions. (A worker takes the
    # master's options when the test starts; with the same --ct-* options it compiles nothing again.)
    logger.info("compiling the activity of the %s preset (seed %d)", settings.preset, settings.seed)
    try:
        _fleet.templates_for(settings, config).get()
    except TelemetryError as exc:
        _fail(exc.message, runner)
    except Exception as exc:
        _fail(
            f"cannot compile the activity of the {settings.preset} preset: {type(exc).__name__}: {exc}",
            runner,
        )


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _collector.parts.clear()
        return
    if _fleet is None:
        return
    _fleet.prepare(environment.parsed_options)
    if _fleet.error is not None:
        logger.error("cannot run the simulated sessions: %s", _fleet.error)
        environment.process_exit_code = 2
        gevent.spawn(runner.quit)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        totals_out = getattr(environment.parsed_options, "ct_totals_out", None)
        if totals_out:
            _collect_and_write(environment, Path(totals_out))
        return
    if _fleet is None:
        return
    _fleet.finish()
    if isinstance(runner, WorkerRunner):
        if _fleet.totals is not None or _fleet.error is not None:
            runner.send_message(_TOTALS_MESSAGE, _fleet.report())
    else:
        totals_out = getattr(environment.parsed_options, "ct_totals_out", None)
        if totals_out:
            part = _fleet.report()
            if part["error"]:
                _totals_not_written(environment, Path(totals_out), part["error"])
            else:
                _write_totals(environment, Path(totals_out), [part["totals"]])


def _on_stop_message(environment, msg, **_kwargs) -> None:
    """On a worker: the master is stopping the test and wants the totals of what was acknowledged."""
    runner = environment.runner
    if _fleet is None:
        return
    # Running (or about to: the test start compiles the activity first), or stopped already.
    deadline = _clock.now() + 120.0
    while not _fleet.idle.is_set() and _clock.now() < deadline:
        if runner.state in (STATE_SPAWNING, STATE_RUNNING):
            runner.stop()  # stops the users; test_stop waits for their exports and sends the totals
            return
        _clock.wait(_fleet.idle, 0.2)
    runner.send_message(_TOTALS_MESSAGE, _fleet.report())


def _collect_and_write(environment, path: Path) -> None:
    """Ask every worker for its totals, wait for all of them, and write their sum once."""
    runner = environment.runner
    expected = {client.id for client in runner.clients.all}
    runner.send_message(_STOP_MESSAGE)
    options = environment.parsed_options
    wait_s = float(getattr(options, "ct_export_timeout", 10.0)) + (environment.stop_timeout or 0.0) + 15.0
    deadline = _clock.now() + wait_s
    while not expected <= _collector.parts.keys() and _clock.now() < deadline:
        _collector.arrived.clear()
        _clock.wait(_collector.arrived, min(0.5, max(0.0, deadline - _clock.now())))
    missing = expected - _collector.parts.keys()
    if missing:
        names = ", ".join(sorted(missing))
        _totals_not_written(
            environment, path, f"no totals from {len(missing)} worker(s) in {wait_s:g}s: {names}"
        )
        return
    errors = [
        f"{node}: {part['error']}" for node, part in sorted(_collector.parts.items()) if part.get("error")
    ]
    if errors:
        _totals_not_written(environment, path, "; ".join(errors))
        return
    _write_totals(environment, path, [part["totals"] for part in _collector.parts.values()])


def _write_totals(environment, path: Path, parts: list[dict]) -> None:
    from claude_telemetry_cli.files import write_atomically
    from claude_telemetry_cli.records import Totals

    totals = Totals.sum_of(Totals.from_json(data) for data in parts)
    try:
        # Whole or not at all: `receive --expect-totals` may be waiting for it.
        write_atomically(path, totals.dumps() + "\n")
    except OSError as exc:
        _totals_not_written(environment, path, exc.strerror or str(exc))
        return
    logger.info(
        "wrote the totals of %d process(es) to %s: %d series, %d events, %d spans",
        len(parts),
        path,
        len(totals.metrics),
        sum(totals.events.values()),
        sum(totals.spans.values()),
    )


def _totals_not_written(environment, path: Path, reason: str) -> None:
    logger.error("--ct-totals-out %s not written: %s", path, reason)
    if environment.process_exit_code is None:
        environment.process_exit_code = 1
