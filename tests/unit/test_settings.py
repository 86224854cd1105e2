"""settings: tiers and precedence, managed locking, validation, headers helper, TLS, env files, masking."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from claude_telemetry_cli import settings
from claude_telemetry_cli.errors import ConfigError, UsageError
from claude_telemetry_cli.settings import (
    Removal,
    Sourced,
    TelemetryConfig,
    is_secret,
    load_config,
    mask_value,
    masked_view,
    parse_cli_overrides,
    parse_key_value_list,
    read_env_file,
    run_headers_helper,
)

GRPC = {
    "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
}
HTTP = {**GRPC, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}


class Machine:
    """A fake home, project and managed-settings directory under tmp_path."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.cwd = root / "project"
        self.managed = root / "etc" / "claude-code" / "managed-settings.json"
        for directory in (self.home, self.cwd, self.managed.parent):
            directory.mkdir(parents=True)

    @property
    def user_file(self) -> Path:
        return self.home / ".claude" / "settings.json"

    @property
    def project_file(self) -> Path:
        return self.cwd / ".claude" / "settings.json"

    @property
    def local_file(self) -> Path:
        return self.cwd / ".claude" / "settings.local.json"

    def drop_in(self, name: str) -> Path:
        return self.managed.parent / "managed-settings.d" / name

    def write(self, path: Path, env: dict | None = None, **keys: object) -> Path:
        data = dict(keys)
        if env is not None:
            data["env"] = env
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2))
        return path

    def load(
        self,
        environ: dict[str, str] | None = None,
        *,
        cli: dict[str, str] | None = None,
        flags: dict[str, tuple[str, str]] | None = None,
        profile: str = "current",
    ) -> TelemetryConfig:
        return load_config(
            environ or {},
            cli_env=cli,
            cli_flags=flags,
            cwd=self.cwd,
            home=self.home,
            managed_path=self.managed,
            profile=profile,
        )

    def file(self, name: str, text: str = "x") -> Path:
        path = self.cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def script(self, name: str, body: str) -> Path:
        path = self.cwd / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


# --- tiers and precedence -------------------------------------------------------------------------


def test_one_variable_in_all_six_tiers_resolves_to_each_tier_as_the_higher_ones_go(machine: Machine) -> None:
    var = "OTEL_METRIC_EXPORT_INTERVAL"
    environ = {**GRPC, var: "1001"}
    machine.write(machine.user_file, {var: "1002"})
    machine.write(machine.project_file, {var: "1003"})
    machine.write(machine.local_file, {var: "1004"})
    cli = {var: "1005"}
    machine.write(machine.managed, {var: "1006"})

    def current() -> tuple[int, Sourced]:
        config = machine.load(environ, cli=cli)
        return config.metric_export_interval_ms, config.values[var]

    assert current() == (1006, Sourced("1006", f"managed:{machine.managed}"))
    machine.managed.unlink()
    assert current() == (1005, Sourced("1005", "cli"))
    cli = {}
    assert current() == (1004, Sourced("1004", f"settings:{machine.local_file}"))
    machine.local_file.unlink()
    assert current() == (1003, Sourced("1003", f"settings:{machine.project_file}"))
    machine.project_file.unlink()
    assert current() == (1002, Sourced("1002", f"settings:{machine.user_file}"))
    machine.user_file.unlink()
    assert current() == (1001, Sourced("1001", "env"))
    del environ[var]
    assert current() == (60000, Sourced("60000", "default"))


def test_settings_files_lists_the_files_read_lowest_precedence_first(machine: Machine) -> None:
    machine.write(machine.local_file, {})
    machine.write(machine.user_file, {})
    machine.write(machine.managed, {})
    machine.write(machine.drop_in("50-team.json"), {})

    config = machine.load(GRPC)

    assert config.settings_files == (
        str(machine.user_file),
        str(machine.local_file),
        str(machine.managed),
        str(machine.drop_in("50-team.json")),
    )


def test_missing_settings_files_are_fine_and_nothing_is_listed(machine: Machine) -> None:
    config = machine.load(GRPC)

    assert config.settings_files == ()
    assert config.metrics.endpoint == "http://localhost:4317"


def test_managed_drop_ins_merge_over_the_base_file_in_name_order(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_METRIC_EXPORT_INTERVAL": "1", "OTEL_LOGS_EXPORT_INTERVAL": "1"})
    # Written in reverse so that name order, not creation order, has to decide.
    machine.write(machine.drop_in("20-b.json"), {"OTEL_METRIC_EXPORT_INTERVAL": "3"})
    machine.write(
        machine.drop_in("10-a.json"), {"OTEL_METRIC_EXPORT_INTERVAL": "2", "OTEL_LOGS_EXPORT_INTERVAL": "2"}
    )
    machine.drop_in("notes.txt").write_text("not settings")

    config = machine.load(GRPC)

    assert config.metric_export_interval_ms == 3
    assert config.values["OTEL_METRIC_EXPORT_INTERVAL"].source == f"managed:{machine.drop_in('20-b.json')}"
    assert config.logs_export_interval_ms == 2
    assert config.values["OTEL_LOGS_EXPORT_INTERVAL"].source == f"managed:{machine.drop_in('10-a.json')}"
    assert str(machine.drop_in("notes.txt")) not in config.settings_files


def test_managed_drop_ins_apply_without_a_base_file(machine: Machine) -> None:
    machine.write(machine.drop_in("10-a.json"), {"OTEL_METRIC_EXPORT_INTERVAL": "7"})

    assert machine.load(GRPC).metric_export_interval_ms == 7


def test_env_values_that_are_numbers_or_booleans_become_strings(machine: Machine) -> None:
    machine.write(
        machine.user_file,
        {
            "CLAUDE_CODE_ENABLE_TELEMETRY": 1,
            "OTEL_METRIC_EXPORT_INTERVAL": 2500,
            "OTEL_LOG_USER_PROMPTS": True,
        },
    )

    config = machine.load()

    assert config.enabled
    assert config.metric_export_interval_ms == 2500
    assert config.values["OTEL_LOG_USER_PROMPTS"].value == "true"
    assert config.emit.log_user_prompts


def test_unrelated_variables_are_not_recorded(machine: Machine) -> None:
    config = machine.load({**GRPC, "PATH": "/usr/bin", "ANTHROPIC_API_KEY": "sk-secret"})

    assert "PATH" not in config.values
    assert "ANTHROPIC_API_KEY" not in config.values


def test_invalid_json_names_the_file_and_line(machine: Machine) -> None:
    machine.project_file.parent.mkdir(parents=True)
    machine.project_file.write_text('{\n  "env": {\n    "A": "1",\n  }\n}\n')

    with pytest.raises(ConfigError, match=rf"^{machine.project_file}:4: invalid JSON: "):
        machine.load(GRPC)


def test_env_block_that_is_not_an_object_names_the_file(machine: Machine) -> None:
    machine.write(machine.managed, ["OTEL_METRICS_EXPORTER=otlp"])

    with pytest.raises(ConfigError, match=rf"^{machine.managed}: 'env' must be an object"):
        machine.load(GRPC)


def test_env_value_that_is_an_object_names_file_and_key(machine: Machine) -> None:
    machine.write(machine.user_file, {"OTEL_EXPORTER_OTLP_HEADERS": {"a": "b"}})

    with pytest.raises(ConfigError, match=rf"^{machine.user_file}: env.OTEL_EXPORTER_OTLP_HEADERS must be"):
        machine.load(GRPC)


def test_settings_file_that_is_not_an_object_is_an_error(machine: Machine) -> None:
    machine.user_file.parent.mkdir(parents=True)
    machine.user_file.write_text("[]")

    with pytest.raises(ConfigError, match=rf"^{machine.user_file}: "):
        machine.load(GRPC)


def test_cli_overrides_beat_settings_files(machine: Machine) -> None:
    machine.write(machine.local_file, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})

    config = machine.load(GRPC, cli={"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})

    assert config.metrics.protocol == "http/json"
    assert config.values["OTEL_EXPORTER_OTLP_PROTOCOL"] == Sourced("http/json", "cli")


def test_empty_value_counts_as_unset_and_says_so(machine: Machine) -> None:
    config = machine.load({**GRPC, "OTEL_METRIC_EXPORT_INTERVAL": ""})

    assert config.metric_export_interval_ms == 60000
    assert any("OTEL_METRIC_EXPORT_INTERVAL is set but empty" in w for w in config.warnings)


# --- managed locking ------------------------------------------------------------------------------


def test_managed_endpoint_removes_every_developer_per_signal_endpoint(machine: Machine) -> None:
    machine.write(machine.user_file, {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://dev:4317"})
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.corp:4317"})
    environ = {
        **GRPC,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://dev:4317",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://dev:4317",
    }

    config = machine.load(environ)

    assert config.metrics.endpoint == "https://collector.corp:4317"
    assert config.logs.endpoint == "https://collector.corp:4317"
    assert {(r.variable, r.source) for r in config.removed} == {
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "env"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", f"settings:{machine.user_file}"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "env"),
    }
    assert "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" not in config.values
    assert any(
        w.startswith("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT from env was removed: managed settings set")
        for w in config.warnings
    )


def test_managed_per_signal_endpoint_is_kept_beside_a_managed_generic_one(machine: Machine) -> None:
    machine.write(
        machine.managed,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.corp:4317",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://siem.corp:4317",
        },
    )

    config = machine.load({**GRPC, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://dev:4317"})

    assert config.logs.endpoint == "https://siem.corp:4317"
    assert config.metrics.endpoint == "https://collector.corp:4317"
    assert config.removed == ()


def test_developer_generic_endpoint_overridden_by_managed_is_not_a_removal(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.corp:4317"})

    config = machine.load({**GRPC, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://dev:4317"})

    assert config.metrics.endpoint == "https://collector.corp:4317"
    assert config.removed == ()


def test_managed_protocol_removes_developer_per_signal_protocols(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
    machine.write(machine.local_file, {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"})

    config = machine.load({**GRPC, "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/json"})

    assert config.metrics.protocol == "http/protobuf"
    assert config.logs.protocol == "http/protobuf"
    assert [r.variable for r in config.removed] == [
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    ]
    assert "locks the protocol" in config.removed[0].reason


def test_managed_headers_remove_developer_per_signal_headers_and_every_endpoint(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer corp"})
    environ = {
        **GRPC,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://attacker:4317",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://attacker:4317",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-dev=1",
    }

    config = machine.load(environ)

    assert {r.variable for r in config.removed} == {
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    }
    assert config.metrics.headers == (("Authorization", "Bearer corp"),)
    assert config.metrics.endpoint == "http://localhost:4317"
    assert config.logs.endpoint == "http://localhost:4317"


@pytest.mark.parametrize("credential", ["CLIENT_KEY", "CLIENT_CERTIFICATE"])
def test_managed_client_credential_removes_its_per_signal_versions_and_endpoints(
    machine: Machine, credential: str
) -> None:
    key, cert = machine.file("corp.key"), machine.file("corp.crt")
    managed = {"OTEL_EXPORTER_OTLP_CLIENT_KEY": str(key), "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(cert)}
    machine.write(
        machine.managed, {f"OTEL_EXPORTER_OTLP_{credential}": managed[f"OTEL_EXPORTER_OTLP_{credential}"]}
    )
    other = "CLIENT_CERTIFICATE" if credential == "CLIENT_KEY" else "CLIENT_KEY"
    dev_key, dev_cert = machine.file("dev.key"), machine.file("dev.crt")
    dev = {"CLIENT_KEY": str(dev_key), "CLIENT_CERTIFICATE": str(dev_cert)}
    environ = {
        **GRPC,
        f"OTEL_EXPORTER_OTLP_{other}": managed[f"OTEL_EXPORTER_OTLP_{other}"],
        f"OTEL_EXPORTER_OTLP_METRICS_{credential}": dev[credential],
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://dev:4317",
    }

    config = machine.load(environ)

    assert {r.variable for r in config.removed} == {
        f"OTEL_EXPORTER_OTLP_METRICS_{credential}",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    }
    assert config.metrics.client_key == str(key)
    assert config.metrics.client_certificate == str(cert)
    assert config.metrics.endpoint == "http://localhost:4317"


def test_managed_per_signal_credential_removes_only_that_signals_developer_endpoint(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-tenant=corp"})
    environ = {
        **GRPC,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://dev-metrics:4317",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://dev-logs:4317",
    }

    config = machine.load(environ)

    assert [r.variable for r in config.removed] == ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]
    assert "OTEL_EXPORTER_OTLP_METRICS_HEADERS" in config.removed[0].reason
    assert config.metrics.endpoint == "http://localhost:4317"
    assert config.logs.endpoint == "http://dev-logs:4317"


def test_exporter_selectors_follow_plain_precedence_under_managed_settings(machine: Machine) -> None:
    machine.write(
        machine.managed,
        {
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:1",
        },
    )
    machine.write(machine.local_file, {"OTEL_METRICS_EXPORTER": "console"})

    config = machine.load({**GRPC, "OTEL_LOGS_EXPORTER": "none"}, cli={"OTEL_METRICS_EXPORTER": "none"})

    assert config.metrics.exporters == ("otlp",)
    assert config.logs.exporters == ("otlp",)
    assert config.removed == ()


def test_developer_can_still_switch_an_unmanaged_selector_to_console(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:1"})

    config = machine.load({**GRPC, "OTEL_LOGS_EXPORTER": "console"})

    assert config.logs.exporters == ("console",)
    assert config.removed == ()


# --- telemetry switch, exporters, protocol --------------------------------------------------------


def test_telemetry_not_enabled_disables_both_signals_and_says_why(machine: Machine) -> None:
    config = machine.load({**GRPC, "CLAUDE_CODE_ENABLE_TELEMETRY": "0"})

    assert not config.enabled
    for signal in (config.metrics, config.logs):
        assert signal.exporters == ()
        assert not signal.otlp_enabled
        assert signal.disabled_reason == settings.TELEMETRY_OFF_REASON
    assert "CLAUDE_CODE_ENABLE_TELEMETRY is '0', not 1, so Claude Code exports nothing" in config.warnings


def test_telemetry_unset_warns_with_the_documented_sentence(machine: Machine) -> None:
    environ = {k: v for k, v in GRPC.items() if k != "CLAUDE_CODE_ENABLE_TELEMETRY"}

    config = machine.load(environ)

    assert not config.enabled
    assert config.warnings == (
        "CLAUDE_CODE_ENABLE_TELEMETRY is not set to 1, so Claude Code exports nothing",
    )


@pytest.mark.parametrize("value", ["1", "true", "TRUE"])
def test_telemetry_enabled_by_one_or_true(machine: Machine, value: str) -> None:
    config = machine.load({**GRPC, "CLAUDE_CODE_ENABLE_TELEMETRY": value})

    assert config.enabled
    assert config.metrics.otlp_enabled and config.logs.otlp_enabled
    assert config.warnings == ()


def test_exporters_are_trimmed_lowercased_and_deduplicated(machine: Machine) -> None:
    config = machine.load(
        {**GRPC, "OTEL_METRICS_EXPORTER": " OTLP , prometheus,console,otlp", "OTEL_LOGS_EXPORTER": "none"}
    )

    assert config.metrics.exporters == ("otlp", "prometheus", "console")
    assert config.logs.exporters == ()
    assert not config.logs.otlp_enabled


def test_unset_exporter_selectors_warn_that_nothing_is_exported(machine: Machine) -> None:
    config = machine.load({"CLAUDE_CODE_ENABLE_TELEMETRY": "1"})

    assert config.metrics.exporters == () and config.logs.exporters == ()
    assert "OTEL_METRICS_EXPORTER is not set: no metrics are exported" in config.warnings
    assert "OTEL_LOGS_EXPORTER is not set: no events are exported" in config.warnings


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "OTEL_METRICS_EXPORTER",
            "otlp,zipkin",
            "OTEL_METRICS_EXPORTER: unknown exporter 'zipkin'; allowed: otlp, prometheus, console, none",
        ),
        (
            "OTEL_LOGS_EXPORTER",
            "prometheus",
            "OTEL_LOGS_EXPORTER: unknown exporter 'prometheus'; allowed: otlp, console, none",
        ),
    ],
)
def test_unknown_exporter_is_an_error_listing_the_allowed_names(
    machine: Machine, variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        machine.load({**GRPC, variable: value})

    assert error.value.message == message


def test_otlp_without_protocol_exports_nothing_and_says_why(machine: Machine) -> None:
    environ = {k: v for k, v in GRPC.items() if k != "OTEL_EXPORTER_OTLP_PROTOCOL"}
    environ["OTEL_METRICS_EXPORTER"] = "otlp,console"

    config = machine.load(environ)

    assert config.metrics.protocol is None
    assert config.metrics.endpoint is None
    assert not config.metrics.otlp_enabled
    assert config.metrics.exporters == ("otlp", "console")
    assert config.metrics.disabled_reason == (
        "no OTLP protocol: set OTEL_EXPORTER_OTLP_PROTOCOL (grpc, http/protobuf or http/json); "
        "Claude Code has no default"
    )
    assert f"metrics: {config.metrics.disabled_reason}" in config.warnings
    assert f"logs: {config.logs.disabled_reason}" in config.warnings


def test_protocol_http_is_not_an_error_but_disables_otlp_with_the_reason(machine: Machine) -> None:
    config = machine.load({**GRPC, "OTEL_EXPORTER_OTLP_PROTOCOL": "http"})

    reason = config.metrics.disabled_reason
    assert config.metrics.protocol is None
    assert reason is not None
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='http'" in reason
    assert "grpc, http/protobuf, http/json" in reason
    assert not config.logs.otlp_enabled


def test_invalid_per_signal_protocol_names_the_per_signal_variable(machine: Machine) -> None:
    config = machine.load({**GRPC, "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "thrift"})

    assert config.metrics.otlp_enabled
    assert "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL='thrift'" in (config.logs.disabled_reason or "")


def test_console_only_signal_needs_no_protocol(machine: Machine) -> None:
    config = machine.load(
        {
            "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
            "OTEL_METRICS_EXPORTER": "console",
            "OTEL_LOGS_EXPORTER": "console",
        }
    )

    assert config.metrics.disabled_reason is None
    assert config.metrics.protocol is None
    assert config.warnings == ()


# --- endpoints and per-signal overrides -----------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "metrics", "logs"),
    [
        ("grpc", "http://localhost:4317", "http://localhost:4317"),
        ("http/protobuf", "http://localhost:4318/v1/metrics", "http://localhost:4318/v1/logs"),
        ("http/json", "http://localhost:4318/v1/metrics", "http://localhost:4318/v1/logs"),
    ],
)
def test_default_endpoints_per_protocol(machine: Machine, protocol: str, metrics: str, logs: str) -> None:
    config = machine.load({**GRPC, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol})

    assert (config.metrics.endpoint, config.logs.endpoint) == (metrics, logs)
    assert config.values["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] == Sourced(metrics, "default")


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://otel.corp:4318", "https://otel.corp:4318/v1/metrics"),
        ("https://otel.corp:4318/", "https://otel.corp:4318/v1/metrics"),
        ("https://otel.corp/ingest/otlp/", "https://otel.corp/ingest/otlp/v1/metrics"),
    ],
)
def test_generic_http_endpoint_gets_the_signal_path(machine: Machine, base: str, expected: str) -> None:
    config = machine.load({**HTTP, "OTEL_EXPORTER_OTLP_ENDPOINT": base})

    assert config.metrics.endpoint == expected
    assert config.logs.endpoint == expected.replace("/v1/metrics", "/v1/logs")


def test_generic_grpc_endpoint_is_used_as_is(machine: Machine) -> None:
    config = machine.load({**GRPC, "OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.corp:4317/"})

    assert config.metrics.endpoint == "https://otel.corp:4317/"


def test_per_signal_endpoint_is_used_as_given_even_for_http(machine: Machine) -> None:
    environ = {
        **HTTP,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.corp:4318",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://metrics.corp/custom",
    }

    config = machine.load(environ)

    assert config.metrics.endpoint == "https://metrics.corp/custom"
    assert config.logs.endpoint == "https://otel.corp:4318/v1/logs"


def test_per_signal_protocol_overrides_the_generic_one(machine: Machine) -> None:
    config = machine.load({**GRPC, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"})

    assert config.metrics.protocol == "http/json"
    assert config.metrics.endpoint == "http://localhost:4318/v1/metrics"
    assert config.logs.protocol == "grpc"
    assert config.logs.endpoint == "http://localhost:4317"


@pytest.mark.parametrize(
    "value", ["localhost:4317", "ftp://otel.corp", "http://", "http://host:port/x", "4317"]
)
def test_endpoint_that_is_not_an_http_url_is_an_error_naming_the_variable(
    machine: Machine, value: str
) -> None:
    with pytest.raises(ConfigError, match=r"^OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: .* is not an http\(s\) URL"):
        machine.load({**GRPC, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": value})


def test_endpoint_error_hides_a_url_password(machine: Machine) -> None:
    with pytest.raises(ConfigError) as error:
        machine.load({**GRPC, "OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://user:hunter2@otel.corp"})

    assert "hunter2" not in error.value.message


# --- headers and resource attributes --------------------------------------------------------------


def test_per_signal_headers_merge_over_generic_ones(machine: Machine) -> None:
    environ = {
        **GRPC,
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer generic,x-team=obs",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "authorization=Bearer metrics,x-extra=1",
    }

    config = machine.load(environ)

    assert config.metrics.headers == (
        ("authorization", "Bearer metrics"),
        ("x-team", "obs"),
        ("x-extra", "1"),
    )
    assert config.logs.headers == (("Authorization", "Bearer generic"), ("x-team", "obs"))


def test_headers_are_trimmed_and_percent_decoded_and_may_contain_equals(machine: Machine) -> None:
    config = machine.load(
        {**GRPC, "OTEL_EXPORTER_OTLP_HEADERS": " Authorization = Bearer%20abc%3D%3D , x=a=b ,"}
    )

    assert config.metrics.headers == (("Authorization", "Bearer abc=="), ("x", "a=b"))


@pytest.mark.parametrize("text", ["xyz", "=value", "a=1,xyz"])
def test_malformed_header_is_an_error_naming_the_variable(machine: Machine, text: str) -> None:
    with pytest.raises(ConfigError) as error:
        machine.load({**GRPC, "OTEL_EXPORTER_OTLP_LOGS_HEADERS": text})

    assert error.value.message.startswith("OTEL_EXPORTER_OTLP_LOGS_HEADERS: malformed header ")
    assert error.value.message.endswith(": expected key=value pairs separated by commas")


def test_a_malformed_bare_header_is_named_by_its_place_and_never_shown() -> None:
    # A bare word may be the token itself, pasted without its name.
    with pytest.raises(ConfigError) as error:
        parse_key_value_list("x-team=a,SECRET123", "OTEL_EXPORTER_OTLP_HEADERS")

    assert error.value.message == (
        "OTEL_EXPORTER_OTLP_HEADERS: malformed header 2 of 2 '***': expected key=value pairs separated"
        " by commas"
    )


def test_malformed_header_error_does_not_echo_the_token() -> None:
    with pytest.raises(ConfigError) as error:
        parse_key_value_list("Authorization: Bearer s3cr3t-token", "OTEL_EXPORTER_OTLP_HEADERS")

    assert "s3cr3t-token" not in error.value.message
    assert "'Authorization***'" in error.value.message


@pytest.mark.parametrize("settings_", [GRPC, HTTP], ids=["grpc", "http"])
@pytest.mark.parametrize(
    ("headers", "complaint"),
    [
        ("Authorization=Bearer SECRET-abc123%0Ainjected", "header 'Authorization' holds a line break"),
        ("Authorization=Bearer SECRET-abc123%0D", "header 'Authorization' holds a line break"),
        ("Authorization=Bearer SECRET-abc123%00", "header 'Authorization' holds a control character (%00"),
        ("Authorization=Bearer SECRET-abc123%7F", "header 'Authorization' holds a control character (%7F"),
        # A token's own '=' (base64) makes everything before it the name.
        ("Authorization: Bearer SECRET-abc123=", "'Authorization***' is not a header name"),
        ("Bearer SECRET-abc123=", "'Bearer***' is not a header name"),
    ],
)
def test_a_header_that_cannot_be_sent_is_named_and_its_value_never_shown(
    machine: Machine, settings_: dict, headers: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as error:
        machine.load({**settings_, "OTEL_EXPORTER_OTLP_HEADERS": headers})

    assert error.value.message.startswith("OTEL_EXPORTER_OTLP_HEADERS: ")
    assert complaint in error.value.message
    assert "SECRET" not in error.value.message and "abc123" not in error.value.message


def test_grpc_takes_printable_ascii_header_values_and_http_latin1(machine: Machine) -> None:
    headers = {"OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-name=Ren%C3%A9e"}

    assert ("x-name", "Renée") in machine.load({**HTTP, **headers}).logs.headers
    with pytest.raises(ConfigError) as error:
        machine.load({**GRPC, **headers})
    assert error.value.message == (
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS: the value of header 'x-name' holds a character beyond ASCII,"
        " which gRPC metadata values cannot hold"
    )


def test_white_space_decoded_around_a_header_value_is_trimmed(machine: Machine) -> None:
    # The OTLP/HTTP exporter refuses to send a value starting with white space; a receiver trims it.
    config = machine.load({**HTTP, "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=%20Bearer%20abc%09"})

    assert config.metrics.headers == (("Authorization", "Bearer abc"),)


def test_a_header_of_a_signal_that_exports_nothing_is_not_checked(machine: Machine) -> None:
    config = machine.load({**HTTP, "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x=a%0Ab"})

    assert not config.traces.otlp_enabled


def test_a_helper_header_that_cannot_be_sent_is_named_not_shown(machine: Machine) -> None:
    # JSON's \n: a line break once decoded.
    script = machine.script(
        "helper.sh", 'cat <<\'EOF\'\n{"Authorization": "Bearer SECRET-abc123\\ninjected"}\nEOF\n'
    )
    machine.write(machine.user_file, otelHeadersHelper=str(script))

    with pytest.raises(ConfigError) as error:
        machine.load(HTTP)

    assert "header 'Authorization' holds a line break" in error.value.message
    assert "SECRET" not in error.value.message


def test_redact_hides_header_values_their_tokens_and_the_passphrase() -> None:
    secrets = settings.secret_values(
        [("Authorization", "Bearer SECRET-abc123"), ("x-team", "web")], "open sesame"
    )
    reply = {"error": ["401: token SECRET-abc123 refused", "Bearer SECRET-abc123 and open sesame"], "n": 3}

    assert settings.redact(reply, secrets) == {"error": ["401: token *** refused", "*** and ***"], "n": 3}
    # A short value is no credential, and hiding it would mangle every message.
    assert settings.redact("web server", secrets) == "web server"


def test_resource_attributes_are_decoded_in_order(machine: Machine) -> None:
    config = machine.load(
        {**GRPC, "OTEL_RESOURCE_ATTRIBUTES": "team=platform%20eng,cost_center=42,dept=R%26D"}
    )

    assert config.emit.resource_attributes == (
        ("team", "platform eng"),
        ("cost_center", "42"),
        ("dept", "R&D"),
    )


def test_malformed_resource_attribute_names_the_variable(machine: Machine) -> None:
    with pytest.raises(ConfigError, match=r"^OTEL_RESOURCE_ATTRIBUTES: malformed attribute 'oops'"):
        machine.load({**GRPC, "OTEL_RESOURCE_ATTRIBUTES": "team=a,oops"})


def test_parse_key_value_list_keeps_order_and_duplicates() -> None:
    assert parse_key_value_list("b=2,a=1,b=3", "OTEL_RESOURCE_ATTRIBUTES") == [
        ("b", "2"),
        ("a", "1"),
        ("b", "3"),
    ]
    assert parse_key_value_list("", "OTEL_RESOURCE_ATTRIBUTES") == []


# --- otelHeadersHelper ----------------------------------------------------------------------------


def test_headers_helper_output_merges_over_static_headers_for_http(machine: Machine) -> None:
    script = machine.script("helper.sh", 'echo \'{"Authorization": "Bearer fresh", "x-req": "7"}\'\n')
    machine.write(machine.user_file, otelHeadersHelper=str(script))

    config = machine.load({**HTTP, "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer stale,x-team=obs"})

    assert config.metrics.headers == (("Authorization", "Bearer fresh"), ("x-team", "obs"), ("x-req", "7"))
    assert dict(config.logs.headers)["Authorization"] == "Bearer fresh"
    assert config.headers_helper == str(script)
    assert config.headers_helper_source == f"settings:{machine.user_file}"
    assert config.headers_helper_debounce_ms == 1740000


def test_headers_helper_from_the_highest_settings_tier_wins(machine: Machine) -> None:
    low = machine.script("low.sh", 'echo \'{"x-from": "user"}\'\n')
    high = machine.script("high.sh", 'echo \'{"x-from": "local"}\'\n')
    machine.write(machine.user_file, otelHeadersHelper=str(low))
    machine.write(machine.local_file, otelHeadersHelper=str(high))

    config = machine.load(HTTP)

    assert config.metrics.headers == (("x-from", "local"),)
    assert config.values["otelHeadersHelper"] == Sourced(str(high), f"settings:{machine.local_file}")


def test_headers_helper_is_not_run_for_grpc_and_a_warning_says_why(machine: Machine) -> None:
    marker = machine.cwd / "ran"
    script = machine.script("helper.sh", f"touch {marker}\necho '{{}}'\n")
    machine.write(machine.managed, otelHeadersHelper=str(script))

    config = machine.load(GRPC)

    assert not marker.exists()
    assert config.headers_helper == str(script)
    assert any("otelHeadersHelper applies to HTTP protocols only" in w for w in config.warnings)


def test_headers_helper_failure_names_the_setting_source_and_status_but_not_its_output(
    machine: Machine,
) -> None:
    script = machine.script(
        "helper.sh",
        "echo '{\"Authorization\": \"Bearer SECRET-abc123\"}'\necho 'denied SECRET-abc123' >&2\nexit 3\n",
    )
    machine.write(machine.project_file, otelHeadersHelper=str(script))

    with pytest.raises(ConfigError) as error:
        machine.load(HTTP)

    assert error.value.message.startswith(f"otelHeadersHelper (settings:{machine.project_file}): ")
    assert "exited with status 3 (its output is not shown" in error.value.message
    assert "SECRET" not in error.value.message


@pytest.mark.parametrize(
    ("output", "complaint"),
    [
        ("Authorization: Bearer x", "output is not JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"x-retries": 3}', "header 'x-retries' must be a string"),
    ],
)
def test_headers_helper_bad_output_is_an_error(machine: Machine, output: str, complaint: str) -> None:
    script = machine.script("helper.sh", f"cat <<'EOF'\n{output}\nEOF\n")
    machine.write(machine.user_file, otelHeadersHelper=str(script))

    with pytest.raises(ConfigError, match=r"^otelHeadersHelper \(settings:") as error:
        machine.load(HTTP)

    assert complaint in error.value.message
    assert "Bearer x" not in error.value.message


def test_headers_helper_timeout_is_an_error(machine: Machine) -> None:
    # Not `exec`: a child of the helper's shell holds its output open, and must be killed with it.
    script = machine.script("helper.sh", "sleep 30\necho '{}'\n")

    with pytest.raises(ConfigError, match=r"^otelHeadersHelper: .* did not finish within 0.2 s"):
        run_headers_helper(str(script), timeout_s=0.2)


def test_run_headers_helper_returns_the_printed_headers(machine: Machine) -> None:
    script = machine.script("helper.sh", 'printf \'{"k": "v"}\'\n')

    assert run_headers_helper(str(script)) == {"k": "v"}


def test_headers_helper_is_not_run_when_telemetry_is_off(machine: Machine) -> None:
    marker = machine.cwd / "ran"
    script = machine.script("helper.sh", f"touch {marker}\necho '{{}}'\n")
    machine.write(machine.user_file, otelHeadersHelper=str(script))

    machine.load({**HTTP, "CLAUDE_CODE_ENABLE_TELEMETRY": "0"})

    assert not marker.exists()


def test_headers_helper_setting_that_is_not_a_string_names_the_file(machine: Machine) -> None:
    machine.write(machine.user_file, otelHeadersHelper=["get-token"])

    with pytest.raises(ConfigError, match=rf"^{machine.user_file}: 'otelHeadersHelper' must be a string"):
        machine.load(HTTP)


def test_headers_helper_debounce_is_read(machine: Machine) -> None:
    config = machine.load({**HTTP, "CLAUDE_CODE_OTEL_HEADERS_HELPER_DEBOUNCE_MS": "900000"})

    assert config.headers_helper_debounce_ms == 900000


# --- TLS ------------------------------------------------------------------------------------------


def test_grpc_tls_paths_with_per_signal_override_and_relative_paths(machine: Machine) -> None:
    ca, key, cert = (
        machine.file("certs/ca.pem"),
        machine.file("certs/client.key"),
        machine.file("certs/client.pem"),
    )
    metrics_key, metrics_cert = machine.file("certs/m.key"), machine.file("certs/m.pem")
    environ = {
        **GRPC,
        "OTEL_EXPORTER_OTLP_CERTIFICATE": "certs/ca.pem",
        "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(key),
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(cert),
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY": str(metrics_key),
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE": str(metrics_cert),
    }

    config = machine.load(environ)

    assert config.metrics.certificate == str(ca)
    assert (config.metrics.client_key, config.metrics.client_certificate) == (
        str(metrics_key),
        str(metrics_cert),
    )
    assert (config.logs.client_key, config.logs.client_certificate) == (str(key), str(cert))


def test_http_tls_paths_are_filled(machine: Machine) -> None:
    cert, key, ca = machine.file("c.pem"), machine.file("c.key"), machine.file("ca.pem")
    environ = {
        **HTTP,
        "CLAUDE_CODE_CLIENT_CERT": str(cert),
        "CLAUDE_CODE_CLIENT_KEY": str(key),
        "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE": "pw",
        "NODE_EXTRA_CA_CERTS": "ca.pem",
    }

    config = machine.load(environ)

    for signal in (config.metrics, config.logs):
        assert (signal.http_client_cert, signal.http_client_key, signal.http_ca_certs) == (
            str(cert),
            str(key),
            str(ca),
        )
        assert signal.http_client_key_passphrase == "pw"


@pytest.mark.parametrize(
    "variable",
    ["OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "NODE_EXTRA_CA_CERTS"],
)
def test_missing_tls_file_is_an_error_naming_variable_and_path(machine: Machine, variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        machine.load({**GRPC, variable: "/no/such/ca.pem"})

    assert error.value.message == f"{variable}: file not found: /no/such/ca.pem"


def test_missing_client_key_names_the_variable_and_resolved_path(machine: Machine) -> None:
    cert = machine.file("client.pem")
    environ = {
        **GRPC,
        "OTEL_EXPORTER_OTLP_CLIENT_KEY": "keys/client.key",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(cert),
    }

    with pytest.raises(ConfigError) as error:
        machine.load(environ)

    assert (
        error.value.message
        == f"OTEL_EXPORTER_OTLP_CLIENT_KEY: file not found: {machine.cwd / 'keys/client.key'}"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_tls_file_is_an_error(machine: Machine) -> None:
    ca = machine.file("ca.pem")
    ca.chmod(0)

    with pytest.raises(ConfigError, match=r"^OTEL_EXPORTER_OTLP_CERTIFICATE: file is not readable"):
        machine.load({**GRPC, "OTEL_EXPORTER_OTLP_CERTIFICATE": str(ca)})


@pytest.mark.parametrize(
    ("present", "value_name"),
    [("OTEL_EXPORTER_OTLP_CLIENT_KEY", "k"), ("OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", "c")],
)
def test_grpc_client_key_without_certificate_or_vice_versa_is_an_error(
    machine: Machine, present: str, value_name: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^{present} is set but neither .* mTLS needs both"):
        machine.load({**GRPC, present: str(machine.file(value_name))})


@pytest.mark.parametrize("present", ["CLAUDE_CODE_CLIENT_KEY", "CLAUDE_CODE_CLIENT_CERT"])
def test_http_client_key_without_certificate_or_vice_versa_is_an_error(
    machine: Machine, present: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^{present} is set but CLAUDE_CODE_CLIENT_\w+ is not"):
        machine.load({**HTTP, present: str(machine.file("f"))})


# --- profiles, intervals, temporality, switches, gates --------------------------------------------


def test_current_profile_default_intervals(machine: Machine) -> None:
    config = machine.load(GRPC)

    assert (config.metric_export_interval_ms, config.logs_export_interval_ms) == (60000, 5000)
    assert config.values["OTEL_LOGS_EXPORT_INTERVAL"] == Sourced("5000", "default")
    assert config.profile == "current" and config.emit.profile == "current"


def test_2025_05_profile_uses_a_ten_second_interval_and_ignores_logs(machine: Machine) -> None:
    config = machine.load({**GRPC, "OTEL_LOGS_EXPORTER": "otlp,zipkin"}, profile="2025-05")

    assert config.metric_export_interval_ms == 10000
    assert config.values["OTEL_METRIC_EXPORT_INTERVAL"] == Sourced("10000", "default")
    assert config.logs.exporters == ()
    assert config.metrics.otlp_enabled
    assert any(w.startswith("OTEL_LOGS_EXPORTER is ignored") for w in config.warnings)
    assert config.emit.profile == "2025-05"


def test_unknown_profile_is_a_usage_error(machine: Machine) -> None:
    with pytest.raises(UsageError, match="unknown profile 'nope'"):
        machine.load(GRPC, profile="nope")


@pytest.mark.parametrize(
    "variable",
    [
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_LOGS_EXPORT_INTERVAL",
        "CLAUDE_CODE_OTEL_HEADERS_HELPER_DEBOUNCE_MS",
    ],
)
@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "1e3"])
def test_bad_interval_is_an_error_naming_the_variable(machine: Machine, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        machine.load({**GRPC, variable: value})

    assert error.value.message == f"{variable}: '{value}' is not a positive whole number of milliseconds"


def test_intervals_are_read(machine: Machine) -> None:
    config = machine.load(
        {**GRPC, "OTEL_METRIC_EXPORT_INTERVAL": " 10000 ", "OTEL_LOGS_EXPORT_INTERVAL": "250"}
    )

    assert (config.metric_export_interval_ms, config.logs_export_interval_ms) == (10000, 250)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "delta"), ("Cumulative", "cumulative"), ("DELTA", "delta")]
)
def test_temporality(machine: Machine, value: str | None, expected: str) -> None:
    environ = dict(GRPC)
    if value is not None:
        environ["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] = value

    assert machine.load(environ).temporality == expected


def test_bad_temporality_lists_the_allowed_values(machine: Machine) -> None:
    with pytest.raises(ConfigError) as error:
        machine.load({**GRPC, "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "lowmemory"})

    assert error.value.message.startswith("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'lowmemory'")
    assert error.value.message.endswith("allowed: delta, cumulative")


def test_include_switch_defaults(machine: Machine) -> None:
    emit = machine.load(GRPC).emit

    assert (
        emit.include_session_id,
        emit.include_version,
        emit.include_account_uuid,
        emit.include_entrypoint,
        emit.include_resource_attributes,
    ) == (True, False, True, False, True)


def test_include_switches_accept_true_false_one_zero_in_any_case(machine: Machine) -> None:
    environ = {
        **GRPC,
        "OTEL_METRICS_INCLUDE_SESSION_ID": "FALSE",
        "OTEL_METRICS_INCLUDE_VERSION": "1",
        "OTEL_METRICS_INCLUDE_ACCOUNT_UUID": "0",
        "OTEL_METRICS_INCLUDE_ENTRYPOINT": "True",
        "OTEL_METRICS_INCLUDE_RESOURCE_ATTRIBUTES": "false",
    }

    emit = machine.load(environ).emit

    assert (
        emit.include_session_id,
        emit.include_version,
        emit.include_account_uuid,
        emit.include_entrypoint,
        emit.include_resource_attributes,
    ) == (False, True, False, True, False)


@pytest.mark.parametrize("variable", [var for var, _, _ in settings.INCLUDE_SWITCHES])
def test_bad_include_switch_names_the_variable_and_allowed_values(machine: Machine, variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        machine.load({**GRPC, variable: "yes"})

    assert error.value.message == f"{variable}: 'yes' is not a boolean; allowed: true, false, 1, 0"


def test_content_gates_are_off_by_default_and_responses_follow_prompts(machine: Machine) -> None:
    emit = machine.load(GRPC).emit

    assert not emit.log_user_prompts and not emit.log_tool_details
    assert emit.log_assistant_responses is None and not emit.reveal_responses


def test_assistant_responses_follow_prompts_when_unset(machine: Machine) -> None:
    emit = machine.load({**GRPC, "OTEL_LOG_USER_PROMPTS": "1", "OTEL_LOG_TOOL_DETAILS": "true"}).emit

    assert emit.log_user_prompts and emit.log_tool_details
    assert emit.log_assistant_responses is None
    assert emit.reveal_responses


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False), ("false", False)])
def test_assistant_responses_set_explicitly_overrides_prompts(
    machine: Machine, value: str, expected: bool
) -> None:
    emit = machine.load({**GRPC, "OTEL_LOG_USER_PROMPTS": "1", "OTEL_LOG_ASSISTANT_RESPONSES": value}).emit

    assert emit.log_assistant_responses is expected
    assert emit.reveal_responses is expected


def test_unrecognised_content_gate_value_counts_as_off_with_a_warning(machine: Machine) -> None:
    config = machine.load({**GRPC, "OTEL_LOG_USER_PROMPTS": "yes"})

    assert not config.emit.log_user_prompts
    assert "OTEL_LOG_USER_PROMPTS='yes' is neither 1 nor true, so it counts as off" in config.warnings


def test_prometheus_host_and_port(machine: Machine) -> None:
    default = machine.load(GRPC)
    custom = machine.load(
        {**GRPC, "OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0", "OTEL_EXPORTER_PROMETHEUS_PORT": "0"}
    )

    assert (default.prometheus_host, default.prometheus_port) == ("localhost", 9464)
    assert (custom.prometheus_host, custom.prometheus_port) == ("0.0.0.0", 0)


@pytest.mark.parametrize("value", ["65536", "http", "-1", "94.64"])
def test_bad_prometheus_port_names_the_variable(machine: Machine, value: str) -> None:
    with pytest.raises(
        ConfigError, match=r"^OTEL_EXPORTER_PROMETHEUS_PORT: .* is not a port number \(0-65535\)"
    ):
        machine.load({**GRPC, "OTEL_EXPORTER_PROMETHEUS_PORT": value})


# --- command line: -e and --env-file --------------------------------------------------------------


def test_cli_overrides_parse_key_value_pairs_and_later_ones_win() -> None:
    pairs = ["OTEL_EXPORTER_OTLP_HEADERS=a=b", "X=", "X=2", "OTEL_METRICS_EXPORTER=otlp"]

    assert parse_cli_overrides(pairs) == {
        "OTEL_EXPORTER_OTLP_HEADERS": "a=b",
        "X": "2",
        "OTEL_METRICS_EXPORTER": "otlp",
    }


@pytest.mark.parametrize("pair", ["FOO", "=bar"])
def test_cli_override_without_equals_is_a_usage_error(pair: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_cli_overrides([pair])

    assert error.value.message == f"-e '{pair}': expected KEY=VALUE"


def test_env_file_dotenv_syntax(tmp_path: Path) -> None:
    path = tmp_path / "otel.env"
    path.write_text(
        "# collector\n"
        "\n"
        "CLAUDE_CODE_ENABLE_TELEMETRY=1\n"
        "export OTEL_METRICS_EXPORTER=otlp\n"
        'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer a b"\n'
        "OTEL_RESOURCE_ATTRIBUTES='team=a,dept=b'\n"
        "  OTEL_LOGS_EXPORTER = console   # inline comment\n"
        "EMPTY=\n"
        "HASH='a # b'\n"
    )

    assert read_env_file(path) == {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer a b",
        "OTEL_RESOURCE_ATTRIBUTES": "team=a,dept=b",
        "OTEL_LOGS_EXPORTER": "console",
        "EMPTY": "",
        "HASH": "a # b",
    }


@pytest.mark.parametrize("line", ["JUST_A_NAME", "=value", "BAD KEY=1", 'Q="unterminated'])
def test_env_file_bad_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "otel.env"
    path.write_text(f"# header\nGOOD=1\n{line}\n")

    with pytest.raises(ConfigError, match=rf"^{path}:3: .*expected KEY=VALUE"):
        read_env_file(path)


def test_env_file_missing_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.env"

    with pytest.raises(ConfigError) as error:
        read_env_file(path)

    assert error.value.message == f"{path}: file not found"


def test_env_file_and_e_pairs_feed_the_cli_tier(machine: Machine, tmp_path: Path) -> None:
    path = tmp_path / "otel.env"
    path.write_text("OTEL_EXPORTER_OTLP_PROTOCOL=http/json\nOTEL_METRIC_EXPORT_INTERVAL=1000\n")
    cli = {**read_env_file(path), **parse_cli_overrides(["OTEL_METRIC_EXPORT_INTERVAL=2000"])}

    config = machine.load(GRPC, cli=cli)

    assert config.metrics.protocol == "http/json"
    assert config.values["OTEL_METRIC_EXPORT_INTERVAL"] == Sourced("2000", "cli")


def test_export_flags_sit_in_the_cli_tier_with_their_own_source(machine: Machine) -> None:
    machine.write(machine.project_file, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://from-settings:4317"})
    flags = settings.flag_overrides(endpoint="http://flag:4317", protocol="GRPC", insecure=True)

    config = machine.load(GRPC, cli={"OTEL_METRIC_EXPORT_INTERVAL": "2000"}, flags=flags)

    assert config.metrics.endpoint == "http://flag:4317"
    assert config.values["OTEL_EXPORTER_OTLP_ENDPOINT"] == Sourced("http://flag:4317", "cli (--endpoint)")
    assert config.values["OTEL_EXPORTER_OTLP_PROTOCOL"] == Sourced("grpc", "cli (--protocol)")
    assert config.values["OTEL_EXPORTER_OTLP_INSECURE"] == Sourced("true", "cli (--insecure)")
    assert config.values["OTEL_METRIC_EXPORT_INTERVAL"] == Sourced("2000", "cli")


def test_managed_settings_stay_above_the_export_flags(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://managed:4317"})

    config = machine.load(GRPC, flags=settings.flag_overrides(endpoint="http://flag:4317"))

    assert config.metrics.endpoint == "http://managed:4317"


def test_a_header_flag_adds_to_the_headers_set_below_it_taken_literally(machine: Machine) -> None:
    environ = {**GRPC, "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20one,x-team=old"}
    flags = settings.flag_overrides(headers=["x-team=new", "x-list=a,b", "x-pct=50%25"])

    config = machine.load(environ, flags=flags)

    assert dict(config.metrics.headers) == {
        "authorization": "Bearer one",
        "x-team": "new",
        "x-list": "a,b",
        "x-pct": "50%25",
    }
    assert config.values["OTEL_EXPORTER_OTLP_HEADERS"].source == "cli (--header)"
    # After -e's headers too, when -e sets them.
    config = machine.load(GRPC, cli={"OTEL_EXPORTER_OTLP_HEADERS": "x-e=1"}, flags=flags)
    assert [k for k, _ in config.metrics.headers] == ["x-e", "x-team", "x-list", "x-pct"]


def test_insecure_with_an_https_endpoint_says_the_scheme_decides(machine: Machine) -> None:
    flags = settings.flag_overrides(endpoint="https://collector:4317", insecure=True)

    config = machine.load(GRPC, flags=flags)

    assert any("OTEL_EXPORTER_OTLP_INSECURE=true changes nothing" in w for w in config.warnings)
    assert not any("INSECURE" in w for w in machine.load(GRPC, flags=settings.flag_overrides()).warnings)
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_INSECURE: 'maybe' is not a boolean"):
        machine.load({**GRPC, "OTEL_EXPORTER_OTLP_INSECURE": "maybe"})


# --- the config view ------------------------------------------------------------------------------


def test_masked_view_never_shows_secret_values(machine: Machine) -> None:
    key, cert = machine.file("c.key"), machine.file("c.pem")
    script = machine.script("helper.sh", 'echo \'{"x-dynamic-token": "helper-secret-42"}\'\n')
    machine.write(machine.user_file, otelHeadersHelper=str(script))
    environ = {
        **HTTP,
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20generic-secret-1,x-team=obs",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-api-key=metrics-secret-2",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://user:url-secret-3@logs.corp/v1/logs",
        "CLAUDE_CODE_CLIENT_CERT": str(cert),
        "CLAUDE_CODE_CLIENT_KEY": str(key),
        "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE": "passphrase-secret-4",
    }

    view = masked_view(machine.load(environ))
    text = json.dumps(view)

    for secret in (
        "generic-secret-1",
        "metrics-secret-2",
        "url-secret-3",
        "helper-secret-42",
        "passphrase-secret-4",
    ):
        assert secret not in text
    assert view["values"]["OTEL_EXPORTER_OTLP_HEADERS"]["value"] == "Authorization=***,x-team=***"
    assert view["values"]["CLAUDE_CODE_CLIENT_KEY_PASSPHRASE"] == {"value": "***", "source": "env"}
    assert view["metrics"]["headers"] == {
        "Authorization": "***",
        "x-team": "***",
        "x-api-key": "***",
        "x-dynamic-token": "***",
    }
    assert view["logs"]["endpoint"] == "https://user:***@logs.corp/v1/logs"
    assert view["metrics"]["http_tls"]["client_key_passphrase"] == "***"
    assert view["headers_helper"]["command"] == str(script)


def test_masked_view_describes_the_whole_configuration(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.corp:4317"})
    environ = {
        **GRPC,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://dev:4317",
        "OTEL_RESOURCE_ATTRIBUTES": "team=obs",
        "OTEL_METRICS_EXPORTER": "otlp,prometheus",
    }

    view = masked_view(machine.load(environ))

    assert view["enabled"] is True and view["profile"] == "current"
    assert view["metrics"]["exporters"] == ["otlp", "prometheus"]
    assert view["metrics"]["endpoint"] == "http://collector.corp:4317"
    assert view["metrics"]["otlp_enabled"] is True
    assert view["temporality"] == "delta"
    assert view["metric_export_interval_ms"] == 60000
    assert view["include"]["session_id"] is True
    assert view["content"] == {
        "user_prompts": False,
        "assistant_responses": None,
        "assistant_responses_effective": False,
        "tool_details": False,
        "tool_content": False,
        "raw_api_bodies": None,
        "limit_events": 61440,
        "limit_spans": 61440,
    }
    assert view["resource_attributes"] == {"team": "obs"}
    assert view["prometheus"] == {"host": "localhost", "port": 9464}
    assert view["values"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == {
        "value": "http://collector.corp:4317",
        "source": f"managed:{machine.managed}",
    }
    assert view["removed"] == [
        {
            "variable": "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "source": "env",
            "reason": view["removed"][0]["reason"],
        }
    ]
    assert view["settings_files"] == [str(machine.managed)]
    assert view["headers_helper"] is None
    assert any("was removed" in w for w in view["warnings"])


def test_masked_view_shows_why_telemetry_exports_nothing(machine: Machine) -> None:
    view = masked_view(machine.load({}))

    assert view["enabled"] is False
    assert view["metrics"]["disabled_reason"] == settings.TELEMETRY_OFF_REASON
    assert view["warnings"] == [settings.TELEMETRY_OFF_REASON]


def test_secret_helpers() -> None:
    assert is_secret("OTEL_EXPORTER_OTLP_HEADERS")
    assert is_secret("OTEL_EXPORTER_OTLP_LOGS_HEADERS")
    assert is_secret("CLAUDE_CODE_CLIENT_KEY_PASSPHRASE")
    assert not is_secret("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert mask_value("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b = 2,junk") == "a=***,b=***,***"
    assert mask_value("OTEL_METRIC_EXPORT_INTERVAL", "5000") == "5000"
    assert mask_value("OTEL_EXPORTER_OTLP_ENDPOINT", "https://u:p@h:1") == "https://u:***@h:1"


def test_removal_records_are_plain_data(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})

    config = machine.load({**GRPC, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"})

    assert config.removed == (
        Removal(
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "env",
            "managed settings set OTEL_EXPORTER_OTLP_PROTOCOL, which locks the protocol of every signal",
        ),
    )


# --- traces (beta) --------------------------------------------------------------------------------

TRACED = {**GRPC, "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1", "OTEL_TRACES_EXPORTER": "otlp"}


@pytest.mark.parametrize("flag", ["CLAUDE_CODE_ENHANCED_TELEMETRY_BETA", "ENABLE_ENHANCED_TELEMETRY_BETA"])
def test_traces_need_the_beta_flag_and_an_exporter_and_reuse_the_common_otlp_settings(
    machine: Machine, flag: str
) -> None:
    environ = {**GRPC, flag: "1", "OTEL_TRACES_EXPORTER": "otlp,console"}

    config = machine.load(environ)

    assert config.tracing and config.enhanced_telemetry_beta
    assert config.traces.exporters == ("otlp", "console")
    assert config.traces.otlp_enabled
    assert (config.traces.protocol, config.traces.endpoint) == ("grpc", "http://localhost:4317")
    assert config.traces_export_interval_ms == 5000
    assert config.values["OTEL_TRACES_EXPORT_INTERVAL"] == Sourced("5000", "default")
    assert config.warnings == ()


def test_traces_take_their_own_protocol_endpoint_headers_and_interval(machine: Machine) -> None:
    environ = {
        **TRACED,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-team=obs,Authorization=generic",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=traces-only",
        "OTEL_TRACES_EXPORT_INTERVAL": "1500",
    }

    config = machine.load(environ)

    # A generic HTTP endpoint gets /v1/traces, as it gets /v1/metrics and /v1/logs.
    assert (config.traces.protocol, config.traces.endpoint) == (
        "http/json",
        "http://collector:4318/v1/traces",
    )
    assert config.metrics.protocol == "grpc"
    assert config.traces.headers == (("x-team", "obs"), ("authorization", "traces-only"))
    assert config.traces_export_interval_ms == 1500
    per_signal = machine.load({**TRACED, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9/spans"})
    assert per_signal.traces.endpoint == "http://t:9/spans"


@pytest.mark.parametrize(
    ("environ", "warning"),
    [
        (
            {**GRPC, "OTEL_TRACES_EXPORTER": "otlp"},
            "traces: OTEL_TRACES_EXPORTER is set but CLAUDE_CODE_ENHANCED_TELEMETRY_BETA is not 1 "
            "(nor ENABLE_ENHANCED_TELEMETRY_BETA): tracing is a beta, so Claude Code exports no spans",
        ),
        (
            {**GRPC, "OTEL_TRACES_EXPORTER": "console", "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "yes"},
            "traces: OTEL_TRACES_EXPORTER is set but CLAUDE_CODE_ENHANCED_TELEMETRY_BETA is 'yes', not 1 "
            "(nor ENABLE_ENHANCED_TELEMETRY_BETA): tracing is a beta, so Claude Code exports no spans",
        ),
        (
            {**GRPC, "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1"},
            "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA is 1 but OTEL_TRACES_EXPORTER is not set: "
            "no spans are exported",
        ),
    ],
)
def test_half_configured_tracing_exports_no_spans_and_says_why_once(
    machine: Machine, environ: dict[str, str], warning: str
) -> None:
    config = machine.load(environ)

    assert not config.tracing and config.traces.exporters == ()
    assert config.warnings == (warning,)
    if "OTEL_TRACES_EXPORTER" in environ:
        assert warning.endswith(config.traces.disabled_reason)
        assert masked_view(config)["traces"]["disabled_reason"] == config.traces.disabled_reason


@pytest.mark.parametrize(
    "environ",
    [
        GRPC,  # tracing is off by default: nothing to say
        {**GRPC, "OTEL_TRACES_EXPORTER": "none"},
        {**GRPC, "OTEL_TRACES_EXPORTER": "none", "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1"},
    ],
)
def test_tracing_off_on_purpose_is_silent(machine: Machine, environ: dict[str, str]) -> None:
    config = machine.load(environ)

    assert not config.tracing and config.traces.disabled_reason is None
    assert config.warnings == ()


def test_traces_follow_telemetry_off_and_profiles_without_events(machine: Machine) -> None:
    off = machine.load({**TRACED, "CLAUDE_CODE_ENABLE_TELEMETRY": "0"})
    assert not off.tracing and off.traces.disabled_reason == settings.TELEMETRY_OFF_REASON
    assert not any("TRACES" in w for w in off.warnings)

    seed = machine.load(TRACED, profile="2025-05")
    assert not seed.tracing
    assert "OTEL_TRACES_EXPORTER is ignored: this profile's Claude Code exports no traces" in seed.warnings


def test_traces_without_a_protocol_say_so_like_the_other_signals(machine: Machine) -> None:
    environ = {k: v for k, v in TRACED.items() if k != "OTEL_EXPORTER_OTLP_PROTOCOL"}

    config = machine.load(environ)

    assert config.traces.exporters == ("otlp",) and not config.traces.otlp_enabled
    assert config.traces.disabled_reason == settings.NO_PROTOCOL_REASON
    assert f"traces: {settings.NO_PROTOCOL_REASON}" in config.warnings


def test_bad_traces_exporter_and_interval_are_errors_naming_the_variable(machine: Machine) -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER: unknown exporter 'jaeger'"):
        machine.load({**TRACED, "OTEL_TRACES_EXPORTER": "jaeger"})
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORT_INTERVAL: '0' is not a positive"):
        machine.load({**TRACED, "OTEL_TRACES_EXPORT_INTERVAL": "0"})


def test_managed_endpoint_locks_the_traces_endpoint_too(machine: Machine) -> None:
    machine.write(machine.managed, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://managed:4317"})

    config = machine.load({**TRACED, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://mine:4317"})

    assert config.traces.endpoint == "http://managed:4317"
    assert [r.variable for r in config.removed] == ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]


def test_headers_helper_applies_to_http_traces(machine: Machine) -> None:
    script = machine.script("helper.sh", 'echo \'{"x-token": "from-helper"}\'\n')
    machine.write(machine.user_file, otelHeadersHelper=str(script))

    config = machine.load({**TRACED, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})

    assert ("x-token", "from-helper") in config.traces.headers


def test_masked_view_shows_traces_with_secrets_masked(machine: Machine) -> None:
    environ = {**TRACED, "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=Bearer%20trace-secret-5"}

    view = masked_view(machine.load(environ))

    assert "trace-secret-5" not in json.dumps(view)
    assert view["traces"]["exporters"] == ["otlp"] and view["traces"]["otlp_enabled"] is True
    assert view["traces"]["enhanced_telemetry_beta"] is True
    assert view["traces"]["headers"] == {"Authorization": "***"}
    assert view["traces_export_interval_ms"] == 5000
    assert view["values"]["OTEL_EXPORTER_OTLP_TRACES_HEADERS"]["value"] == "Authorization=***"
