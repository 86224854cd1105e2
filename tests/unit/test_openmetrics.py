"""export --format openmetrics: what a Prometheus server would have stored, on tiny hand-made streams
(one series, a few exports, a scrape interval, an expiry) and as a file."""

from __future__ import annotations

import io

import pytest

from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.history.openmetrics import (
    CollectorScrapes,
    Naming,
    Point,
    ProcessScrapes,
    collector_metric_name,
    label_name,
    parse_labels,
    write_openmetrics,
)

S = 1_000_000_000
T0 = 1_790_000_000 * S  # a whole second, so scrape times read plainly
RESOURCE = (("service.name", "claude-code"), ("service.version", "2.1.331"), ("os.type", "linux"))
ATTRS = (("session.id", "s-1"), ("user.account_uuid", "u-1"), ("model", "claude-opus-4-5"))


@pytest.mark.parametrize(
    ("profile", "metric", "expected"),
    [
        ("current", "claude_code.cost.usage", "claude_code_cost_usage_USD_total"),
        ("current", "claude_code.token.usage", "claude_code_token_usage_tokens_total"),
        ("current", "claude_code.active_time.total", "claude_code_active_time_seconds_total"),
        ("current", "claude_code.session.count", "claude_code_session_count_total"),
        ("current", "claude_code.lines_of_code.count", "claude_code_lines_of_code_count_total"),
        ("current", "claude_code.pull_request.count", "claude_code_pull_request_count_total"),
        ("current", "claude_code.commit.count", "claude_code_commit_count_total"),
        ("current", "claude_code.code_edit_tool.decision", "claude_code_code_edit_tool_decision_total"),
        # The seed's count unit is already the name's last word: not repeated.
        ("2025-05", "claude_code.session.count", "claude_code_session_count_total"),
    ],
)
def test_collector_names_carry_the_contract_unit_and_total(profile, metric, expected):
    spec = get_profile(profile).metrics[metric]
    family = Naming("otel-collector").family(spec.name, spec.unit, spec.description)
    assert family.sample_name == expected
    assert family.name == expected.removesuffix("_total")


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("s", "x_seconds"), ("1", "x"), ("", "x"), ("{request}", "x"), ("By/s", "x_bytes_per_second")],
)
def test_collector_unit_suffix_rules(unit, expected):
    assert collector_metric_name("x", unit)[0] == expected


def test_claude_code_names_have_no_unit_suffix_and_no_unit_line():
    family = Naming("claude-code").family("claude_code.cost.usage", "USD", "Cost")
    assert (family.sample_name, family.unit) == ("claude_code_cost_usage_total", "")
    active = Naming("claude-code").family("claude_code.active_time.total", "s", "Active")
    assert active.sample_name == "claude_code_active_time_total"


def test_attribute_keys_become_label_names():
    assert label_name("session.id") == "session_id"
    assert label_name("user.account_uuid") == "user_account_uuid"
    assert label_name("1st") == "key_1st"


def test_labels_are_key_value_pairs_with_prometheus_names():
    assert parse_labels(["job=otel-collector", "instance=a:1"]) == (
        ("job", "otel-collector"),
        ("instance", "a:1"),
    )
    for bad in ("job", "=x", "a.b=c", "__name__=x"):
        with pytest.raises(UsageError, match="--label"):
            parse_labels([bad])
    with pytest.raises(UsageError, match="--naming"):
        Naming("prometheus")


def _point(at_s: float, value: float, *, start_s: float, temporality: str = "delta") -> tuple[int, Point]:
    time_ns = T0 + round(at_s * S)
    return time_ns, Point(
        "claude_code.cost.usage",
        "USD",
        "Cost of the Claude Code session",
        ATTRS,
        RESOURCE,
        "com.anthropic.claude_code",
        "2.1.331",
        temporality,
        T0 + round(start_s * S),
        time_ns,
        value,
    )


def _write(updates, scrapes, apply, *, end_s: float, interval_s: float = 15) -> tuple[str, object]:
    out = io.BytesIO()
    result = write_openmetrics(
        updates, scrapes, apply, out, end_ns=T0 + round(end_s * S), interval_ns=round(interval_s * S)
    )
    return out.getvalue().decode(), result


def _samples(text: str, name: str) -> list[tuple[float, float]]:
    """(seconds after T0, value) of every sample of `name`."""
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            _, value, stamp = line.rsplit(" ", 2)
            out.append((round(float(stamp) - T0 / S, 3), float(value)))
    return out


def _receive(scrapes, point) -> None:
    scrapes.receive(point)


def test_delta_exports_become_a_running_sum_seen_at_each_scrape_until_it_expires():
    # Two exports a minute apart (Claude Code's interval), scraped every 15s, expiry 5m, a window of
    # 10m: the value changes only when an export arrives and is gone 5m after the last one.
    updates = [_point(60, 1.5, start_s=0), _point(120, 2.0, start_s=60)]
    scrapes = CollectorScrapes(Naming("otel-collector"), 300 * S)
    text, result = _write(updates, scrapes, _receive, end_s=600)
    samples = _samples(text, "claude_code_cost_usage_USD_total")
    expected = [(t, 1.5) for t in range(60, 120, 15)] + [(t, 3.5) for t in range(120, 421, 15)]
    assert samples == expected
    assert result.series == 1 and result.samples == len(expected) * 2  # and its target_info
    assert _samples(text, "target_info") == [(t, 1.0) for t, _ in expected]


def test_a_scrape_sees_what_arrived_at_its_own_instant():
    updates = [_point(30, 1.0, start_s=0)]
    text, _ = _write(updates, CollectorScrapes(Naming(), 60 * S), _receive, end_s=120)
    assert _samples(text, "claude_code_cost_usage_USD_total")[0] == (30, 1.0)


def test_the_scrape_grid_ends_at_the_window_end():
    # An export at the very end is seen: the last scrape is at the window's end.
    updates = [_point(100, 1.0, start_s=40)]
    text, _ = _write(updates, CollectorScrapes(Naming(), 300 * S), _receive, end_s=100, interval_s=15)
    assert _samples(text, "claude_code_cost_usage_USD_total") == [(100, 1.0)]


def test_processor_rule_keeps_the_sum_of_a_series_that_expired_and_came_back():
    updates = [_point(60, 1.0, start_s=0), _point(600, 2.0, start_s=540)]
    text, _ = _write(updates, CollectorScrapes(Naming(), 300 * S), _receive, end_s=720, interval_s=60)
    assert _samples(text, "claude_code_cost_usage_USD_total") == [
        (60, 1.0),
        (120, 1.0),
        (180, 1.0),
        (240, 1.0),
        (300, 1.0),
        (360, 1.0),  # 5m after its update: still served
        (600, 3.0),
        (660, 3.0),
        (720, 3.0),
    ]


def test_exporter_rule_adds_only_a_delta_that_continues_the_series():
    # The second delta starts where the first ended: added. The third starts at a collection the
    # series was not in (an interval with nothing new): the exporter starts the series over.
    updates = [
        _point(60, 1.0, start_s=0),
        _point(120, 2.0, start_s=60),
        _point(240, 4.0, start_s=180),
    ]
    scrapes = CollectorScrapes(Naming(), 300 * S, delta_rule="exporter")
    text, _ = _write(updates, scrapes, _receive, end_s=240, interval_s=60)
    assert _samples(text, "claude_code_cost_usage_USD_total") == [
        (60, 1.0),
        (120, 3.0),
        (180, 3.0),
        (240, 4.0),
    ]
    processor = CollectorScrapes(Naming(), 300 * S)
    text, _ = _write(updates, processor, _receive, end_s=240, interval_s=60)
    assert _samples(text, "claude_code_cost_usage_USD_total")[-1] == (240, 7.0)


def test_cumulative_points_are_taken_as_they_are():
    updates = [
        _point(60, 1.0, start_s=0, temporality="cumulative"),
        _point(120, 3.0, start_s=0, temporality="cumulative"),
    ]
    text, _ = _write(updates, CollectorScrapes(Naming(), 300 * S), _receive, end_s=120, interval_s=60)
    assert _samples(text, "claude_code_cost_usage_USD_total") == [(60, 1.0), (120, 3.0)]


def test_labels_given_replace_what_the_naming_derives():
    naming = Naming("otel-collector", (("job", "otel-collector"), ("instance", "collector:8889")))
    text, _ = _write([_point(60, 1.0, start_s=0)], CollectorScrapes(naming, 300 * S), _receive, end_s=60)
    line = next(x for x in text.splitlines() if x.startswith("claude_code_cost_usage_USD_total{"))
    assert 'job="otel-collector"' in line and 'instance="collector:8889"' in line
    assert 'session_id="s-1"' in line and 'user_account_uuid="u-1"' in line
    assert 'otel_scope_name="com.anthropic.claude_code"' in line and 'otel_scope_version="2.1.331"' in line
    assert "os_type" not in line  # resource attributes only on target_info
    info = next(x for x in text.splitlines() if x.startswith("target_info{"))
    assert 'os_type="linux"' in info and 'service_version="2.1.331"' in info and "service_name" not in info
    assert 'job="otel-collector"' in info


def test_without_labels_the_collector_derives_job_from_service_name():
    text, _ = _write([_point(60, 1.0, start_s=0)], CollectorScrapes(Naming(), 300 * S), _receive, end_s=60)
    assert 'job="claude-code"' in text and "instance=" not in text


class _Info:
    def __init__(self, index: int) -> None:
        self.index = index
        self.resource = RESOURCE
        self.app_version = "2.1.331"


def _process_apply(scrapes, update) -> None:
    info, value = update
    if value is None:
        scrapes.exit(info.index)
    else:
        scrapes.measure(
            info.index, "claude_code.cost.usage", "USD", "Cost", ATTRS, info.resource, "2.1.331", value
        )


def test_a_process_endpoint_shows_its_sum_at_scrape_time_while_the_process_runs():
    process = _Info(0)
    updates = [(T0 + 10 * S, (process, 1.0)), (T0 + 70 * S, (process, 2.0)), (T0 + 100 * S, (process, None))]
    text, result = _write(updates, ProcessScrapes(Naming("claude-code")), _process_apply, end_s=200)
    assert _samples(text, "claude_code_cost_usage_total") == [
        (20, 1.0),
        (35, 1.0),
        (50, 1.0),
        (65, 1.0),
        (80, 3.0),
        (95, 3.0),
    ]
    assert "# UNIT" not in text and "job=" not in text
    info = next(x for x in text.splitlines() if x.startswith("target_info{"))
    assert 'service_name="claude-code"' in info


def test_a_process_endpoint_series_has_its_attributes_and_the_scope_as_labels_and_nothing_else():
    attrs = (*ATTRS, ("anthropic.custom_base_url", False))
    labels = Naming("claude-code").series(attrs, "com.anthropic.claude_code", "2.1.331", RESOURCE)
    pairs = dict(pair.split("=", 1) for pair in labels.strip("{}").split(","))
    assert pairs == {
        "session_id": '"s-1"',
        "user_account_uuid": '"u-1"',
        "model": '"claude-opus-4-5"',
        "anthropic_custom_base_url": '"false"',
        "otel_scope_name": '"com.anthropic.claude_code"',
        "otel_scope_version": '"2.1.331"',
    }


def test_the_file_is_openmetrics_with_each_family_together_and_an_eof():
    profile = get_profile("current")
    updates = []
    for i, name in enumerate(["claude_code.cost.usage", "claude_code.token.usage", "claude_code.cost.usage"]):
        spec = profile.metrics[name]
        t = T0 + (60 + 60 * i) * S
        updates.append(
            (
                t,
                Point(
                    name,
                    spec.unit,
                    spec.description,
                    ATTRS,
                    RESOURCE,
                    "com.anthropic.claude_code",
                    "2.1.331",
                    "delta",
                    t - 60 * S,
                    t,
                    1.0,
                ),
            )
        )
    text, result = _write(updates, CollectorScrapes(Naming(), 300 * S), _receive, end_s=240, interval_s=30)
    lines = text.splitlines()
    assert lines[:3] == [
        "# TYPE claude_code_cost_usage_USD counter",
        "# UNIT claude_code_cost_usage_USD USD",
        "# HELP claude_code_cost_usage_USD Cost of the Claude Code session",
    ]
    assert lines[-1] == "# EOF" and text.endswith("# EOF\n")
    assert [x.split()[2] for x in lines if x.startswith("# TYPE")] == [
        "claude_code_cost_usage_USD",
        "claude_code_token_usage_tokens",
        "target",
    ]
    # Each family's samples are contiguous, each series' samples in time order.
    names = [x.split("{")[0] for x in lines if not x.startswith("#")]
    assert names == sorted(
        names,
        key=["claude_code_cost_usage_USD_total", "claude_code_token_usage_tokens_total", "target_info"].index,
    )
    stamps = [float(x.rsplit(" ", 1)[1]) for x in lines if x.startswith("claude_code_cost")]
    assert stamps == sorted(stamps)
    assert all(x.rsplit(" ", 1)[1].count(".") == 1 for x in lines if not x.startswith("#"))  # seconds.millis
    assert result.lines == len(lines)
    assert result.families == [
        "claude_code_cost_usage_USD_total",
        "claude_code_token_usage_tokens_total",
        "target_info",
    ]


def test_nothing_to_scrape_is_an_empty_file_with_its_eof():
    text, result = _write([], CollectorScrapes(Naming(), 300 * S), _receive, end_s=60)
    assert text == "# EOF\n" and result.samples == 0


def test_processes_with_the_same_labels_show_as_one_series_and_one_target_info():
    # Two processes of one user at once, without session.id on their points: one series, their sum,
    # down again when the first exits; the same resource is one target_info, not two.
    first, second = _Info(0), _Info(1)
    updates = [
        (T0 + 5 * S, (first, 1.0)),
        (T0 + 5 * S, (second, 2.0)),
        (T0 + 20 * S, (first, None)),
        (T0 + 40 * S, (second, None)),
    ]
    text, _ = _write(updates, ProcessScrapes(Naming("claude-code")), _process_apply, end_s=60)
    assert _samples(text, "claude_code_cost_usage_total") == [(15, 3.0), (30, 2.0)]
    assert _samples(text, "target_info") == [(15, 1.0), (30, 1.0)]
