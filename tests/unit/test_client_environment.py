"""What Claude Code reads from its own environment reaches every point and event: ANTHROPIC_BASE_URL
(anthropic.custom_base_url, and with it no client_request_id), the CLAUDE_CODE_USE_* provider switches
(anthropic.provider) and TERM (terminal.type). A scenario field still wins; `config` shows the source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from claude_telemetry_cli import output
from claude_telemetry_cli.records import EVENT, METRIC, Timeline
from claude_telemetry_cli.scenario import compile_scenario, load_scenario_text
from claude_telemetry_cli.settings import TelemetryConfig, load_config, masked_view

SCENARIO = """\
version: 1
name: env
seed: 4
sessions:
  - model: claude-sonnet-4-5
{fields}    steps:
      - prompt: {{}}
      - api_request: {{}}
      - api_error: {{status_code: 500, attempt: 2}}
      - edit: {{lines_added: 3}}
"""


def _config(
    tmp_path: Path, environ: dict[str, str], settings: dict[str, str] | None = None
) -> TelemetryConfig:
    home, cwd = tmp_path / "home", tmp_path / "project"
    for directory in (home, cwd):
        directory.mkdir(exist_ok=True)
    if settings is not None:
        (cwd / ".claude").mkdir(exist_ok=True)
        (cwd / ".claude" / "settings.json").write_text(json.dumps({"env": settings}))
    return load_config(environ, cwd=cwd, home=home, managed_path=tmp_path / "etc" / "managed-settings.json")


def _compile(config: TelemetryConfig, fields: str = "") -> Timeline:
    text = SCENARIO.format(fields="".join(f"    {line}\n" for line in fields.splitlines()))
    return compile_scenario(load_scenario_text(text, "env.yaml"), config.emit)


def _everything(timeline: Timeline) -> list[dict]:
    return [dict(r.attributes) for r in timeline.records if r.signal in (EVENT, METRIC)]


def _events(timeline: Timeline, name: str) -> list[dict]:
    return [dict(r.attributes) for r in timeline.records if r.signal == EVENT and r.name == name]


def test_a_custom_base_url_is_reported_everywhere_and_drops_client_request_id(tmp_path: Path) -> None:
    timeline = _compile(_config(tmp_path, {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8080"}))
    assert all(a["anthropic.custom_base_url"] is True for a in _everything(timeline))
    for name in ("api_request", "api_error"):
        (event,) = _events(timeline, name)
        assert "client_request_id" not in event, name


def test_without_a_base_url_the_first_party_api_gets_client_request_ids(tmp_path: Path) -> None:
    timeline = _compile(_config(tmp_path, {}))
    assert all(a["anthropic.custom_base_url"] is False for a in _everything(timeline))
    for name in ("api_request", "api_error"):
        (event,) = _events(timeline, name)
        assert len(event["client_request_id"]) == 36, name


def test_a_base_url_from_a_settings_file_counts_too(tmp_path: Path) -> None:
    config = _config(tmp_path, {}, settings={"ANTHROPIC_BASE_URL": "https://gateway.corp/anthropic"})
    timeline = _compile(config)
    assert all(a["anthropic.custom_base_url"] is True for a in _everything(timeline))
    assert "client_request_id" not in _events(timeline, "api_request")[0]


@pytest.mark.parametrize(
    ("switch", "provider"),
    [
        ("CLAUDE_CODE_USE_BEDROCK", "bedrock"),
        ("CLAUDE_CODE_USE_VERTEX", "vertex"),
        ("CLAUDE_CODE_USE_FOUNDRY", "foundry"),
    ],
)
def test_a_provider_switch_sets_anthropic_provider(tmp_path: Path, switch: str, provider: str) -> None:
    timeline = _compile(_config(tmp_path, {switch: "1"}))
    assert {a["anthropic.provider"] for a in _everything(timeline)} == {provider}
    # A cloud provider is not the first-party API: no client_request_id either.
    assert "client_request_id" not in _events(timeline, "api_request")[0]


def test_a_switch_that_is_off_leaves_the_first_party_api(tmp_path: Path) -> None:
    timeline = _compile(_config(tmp_path, {"CLAUDE_CODE_USE_BEDROCK": "0"}))
    assert {a["anthropic.provider"] for a in _everything(timeline)} == {"firstParty"}


def test_term_is_the_terminal_type(tmp_path: Path) -> None:
    timeline = _compile(_config(tmp_path, {"TERM": "screen-256color"}))
    assert {a["terminal.type"] for a in _everything(timeline)} == {"screen-256color"}
    # Without TERM the session's default stands.
    assert {a["terminal.type"] for a in _everything(_compile(_config(tmp_path, {})))} == {"xterm"}


def test_scenario_fields_win_over_the_environment(tmp_path: Path) -> None:
    environ = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8080", "CLAUDE_CODE_USE_VERTEX": "1", "TERM": "tmux"}
    fields = "custom_base_url: false\nprovider: bedrock\nterminal_type: vscode"
    timeline = _compile(_config(tmp_path, environ), fields)
    for attributes in _everything(timeline):
        assert attributes["anthropic.custom_base_url"] is False
        assert attributes["anthropic.provider"] == "bedrock"
        assert attributes["terminal.type"] == "vscode"
    # No terminal, said by the scenario, wins over TERM as well.
    bare = _compile(_config(tmp_path, environ), "terminal_type: null")
    assert all("terminal.type" not in a for a in _everything(bare))


def test_config_shows_each_client_attribute_with_its_source(tmp_path: Path) -> None:
    settings_file = tmp_path / "project" / ".claude" / "settings.json"
    config = _config(
        tmp_path,
        {"TERM": "xterm-kitty", "CLAUDE_CODE_USE_BEDROCK": "true"},
        settings={"ANTHROPIC_BASE_URL": "https://user:hunter2@gateway.corp"},
    )
    view = masked_view(config)
    assert view["client"] == {
        "anthropic.custom_base_url": {"value": "true", "source": f"settings:{settings_file}"},
        "anthropic.provider": {"value": "bedrock", "source": "env (CLAUDE_CODE_USE_BEDROCK)"},
        "terminal.type": {"value": "xterm-kitty", "source": "env"},
    }
    assert view["values"]["ANTHROPIC_BASE_URL"] == {
        "value": "https://user:***@gateway.corp",
        "source": f"settings:{settings_file}",
    }
    console = Console(record=True, width=200)
    output.config_view(console, view)
    text = console.export_text()
    assert "anthropic.provider" in text and "env (CLAUDE_CODE_USE_BEDROCK)" in text
    assert "hunter2" not in text

    (tmp_path / "bare").mkdir()
    defaults = masked_view(_config(tmp_path / "bare", {}))
    assert defaults["client"] == {
        "anthropic.custom_base_url": {"value": "false", "source": "default"},
        "anthropic.provider": {"value": "firstParty", "source": "default"},
    }


def test_two_provider_switches_use_the_first_and_say_so(tmp_path: Path) -> None:
    config = _config(tmp_path, {"CLAUDE_CODE_USE_VERTEX": "1", "CLAUDE_CODE_USE_BEDROCK": "1"})
    assert config.emit.provider == "bedrock"
    assert any("CLAUDE_CODE_USE_BEDROCK and CLAUDE_CODE_USE_VERTEX" in w for w in config.warnings)
