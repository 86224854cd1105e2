"""load's options: defaults in one place, checks between them, the spec they resolve to, how a run ends."""

from __future__ import annotations

import pytest

from claude_telemetry_cli.errors import (
    ExitCode,
    ExportError,
    Interrupted,
    UsageError,
    VerificationFailed,
)
from claude_telemetry_cli.load.options import LoadOptions
from claude_telemetry_cli.load.runner import LoadResult, LoadSpec
from claude_telemetry_cli.load.stats import LoadStats
from claude_telemetry_cli.load.transport import Outcome
from claude_telemetry_cli.settings import load_config


@pytest.fixture
def config(isolated_env):
    return load_config(
        {"CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_METRICS_EXPORTER": "otlp"},
        home=isolated_env["home"],
        cwd=isolated_env["project"],
        managed_path=isolated_env["managed"],
    )


def test_the_spec_takes_the_options_defaults():
    options, spec = LoadOptions(), LoadSpec(mode="fleet", config=None)
    assert (spec.preset, spec.seed, spec.sessions, spec.concurrency) == (
        options.preset,
        options.seed,
        options.sessions,
        options.concurrency,
    )
    assert (spec.duration_s, spec.export_timeout_s) == (60.0, options.export_timeout_s)


def test_fleet_defaults_follow_the_configuration(config):
    spec = LoadSpec.from_options(LoadOptions(workers=2), config, templates=["t"])
    assert (spec.mode, spec.sessions, spec.workers, spec.templates) == ("fleet", 100, 2, ("t",))
    # One export interval of ramp-up, so the sessions' exports do not come in waves.
    assert spec.metric_interval_s == spec.ramp_up_s == config.metric_export_interval_ms / 1000
    assert spec.logs_interval_s == config.logs_export_interval_ms / 1000
    assert (spec.duration_s, spec.batch, spec.stop_on_failure, spec.track_totals) == (60.0, 100, True, False)
    assert spec.warnings == []


def test_options_given_override_the_configuration(config):
    options = LoadOptions(sessions=50, interval="5s", session_rate=10, duration="inf", max_error_rate=0.1)
    spec = LoadSpec.from_options(options, config, templates=())
    assert (spec.metric_interval_s, spec.ramp_up_s, spec.duration_s) == (5.0, 5.0, None)
    assert (spec.stop_on_failure, spec.max_error_rate) == (False, 0.1)


def test_throughput_mode(config):
    spec = LoadSpec.from_options(LoadOptions(throughput=True, rate=5, batch=20), config, templates=())
    assert (spec.mode, spec.rate, spec.batch) == ("throughput", 5, 20)


def test_a_duration_shorter_than_the_ramp_up_is_a_warning(config):
    spec = LoadSpec.from_options(LoadOptions(sessions=1000, ramp_up="1m", duration="15s"), config, ())
    assert spec.warnings == [
        "--duration 15s ends before the ramp-up (1m00s): about 250 of the 1,000 sessions start, each"
        " sending what it holds when the run ends; --ramp-up 15s or less starts them all"
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (LoadOptions(batch=10), "--rate and --batch are for --throughput mode"),
        (
            LoadOptions(throughput=True, ramp_up="1m"),
            "--interval, --ramp-up and --session-rate are for fleet",
        ),
        (LoadOptions(ramp_up="1m", session_rate=2), "--ramp-up and --session-rate exclude each other"),
        (LoadOptions(duration="0s"), "--duration: must be more than 0, or inf"),
        (LoadOptions(duration="soon"), "--duration: invalid duration 'soon'"),
        (LoadOptions(interval="0"), "--interval: must be more than 0"),
        (LoadOptions(ramp_up="later"), "--ramp-up: invalid duration 'later'"),
    ],
)
def test_options_that_cannot_run_are_one_usage_error(options, message):
    with pytest.raises(UsageError) as caught:
        options.validate()
    assert caught.value.message.startswith(message)


def _stats(accepted: int = 0, failed: int = 0) -> LoadStats:
    stats = LoadStats()
    for ok, n in ((True, accepted), (False, failed)):
        for _ in range(n):
            stats.record("metrics", Outcome(ok, "OK" if ok else "UNAVAILABLE", 0.01), 1, 0, 10)
    return stats


@pytest.mark.parametrize(
    ("result", "max_error_rate", "kind", "message"),
    [
        (LoadResult(_stats(accepted=5), 1.0), None, None, None),
        (LoadResult(_stats(), 1.0, errors=["worker 0: bad"]), None, UsageError, ""),
        (
            LoadResult(_stats(accepted=1), 1.0, interrupted=True, errors=["x"]),
            None,
            Interrupted,
            "interrupted: the report covers what was done until then",
        ),
        (
            LoadResult(_stats(accepted=1, failed=1), 1.0, failure="metrics export to x failed: UNAVAILABLE"),
            None,
            ExportError,
            "metrics export to x failed: UNAVAILABLE (--allow-export-failures to go on through failures)",
        ),
        (LoadResult(_stats(accepted=1), 1.0, errors=["x"]), None, ExportError, ""),
        (
            LoadResult(_stats(), 1.0),
            None,
            VerificationFailed,
            "nothing was sent: no session had anything to export; lengthen --duration",
        ),
        (
            LoadResult(_stats(accepted=3, failed=1), 1.0),
            0.2,
            VerificationFailed,
            "error rate 25.00% is above --max-error-rate 20.00%",
        ),
        (LoadResult(_stats(accepted=3, failed=1), 1.0), 0.5, None, None),
    ],
)
def test_how_a_run_ends(result, max_error_rate, kind, message):
    ending = result.ending(max_error_rate)
    if kind is None:
        assert ending is None
    else:
        assert type(ending) is kind and ending.message == message


def test_each_ending_carries_its_exit_code():
    assert [e.exit_code for e in (UsageError(), VerificationFailed(), ExportError(), Interrupted())] == [
        ExitCode.BAD_INPUT,
        ExitCode.VERIFICATION_FAILED,
        ExitCode.EXPORT_FAILED,
        ExitCode.INTERRUPTED,
    ]


def _traced(isolated_env, **over):
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_TRACES_EXPORTER": "otlp",
        "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
        **over,
    }
    return load_config(
        env, home=isolated_env["home"], cwd=isolated_env["project"], managed_path=isolated_env["managed"]
    )


def test_spans_alone_are_something_to_send_and_follow_their_export_interval(isolated_env):
    from claude_telemetry_cli.load import check_load_config

    config = _traced(isolated_env, OTEL_TRACES_EXPORT_INTERVAL="750")
    check_load_config(config, totals=True)
    assert LoadSpec.from_options(LoadOptions(), config, templates=()).traces_interval_s == 0.75


def test_a_traces_protocol_load_does_not_speak_is_one_usage_error(isolated_env):
    from claude_telemetry_cli.load import check_load_config

    config = _traced(isolated_env, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/json")
    with pytest.raises(UsageError, match="the traces protocol is http/json"):
        check_load_config(config)
