"""The content options Claude Code reads: OTEL_LOG_RAW_API_BODIES, OTEL_LOG_TOOL_CONTENT and tool details
on spans, the content limit (CLAUDE_CODE_OTEL_CONTENT_MAX_LENGTH, lowered by the SDK's attribute value
limits) and DISABLE_ERROR_REPORTING, each changing what a replay sends as it changes what the client
sends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_telemetry_cli.contract.content_limit import truncate_content
from claude_telemetry_cli.contract.spans import TOOL, TOOL_OUTPUT
from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.records import EVENT, Timeline
from claude_telemetry_cli.scenario import compile_scenario, load_scenario_text
from claude_telemetry_cli.scenario.spans import derive_spans
from claude_telemetry_cli.settings import TelemetryConfig, load_config, masked_view

MARKER = "\n\n[TRUNCATED - Content exceeds 60KB limit]"

SCENARIO = """\
version: 1
name: content
seed: 9
sessions:
  - model: claude-sonnet-4-5
{fields}    steps:
      - prompt: {{text: "{prompt}"}}
      - api_request: {{input_tokens: 100}}
      - edit: {{tool: Write, language: Python, lines_added: 2, result_size_bytes: 300,
               input: {{file_path: /src/app.py, content: "print(1)"}}}}
      - tool: {{name: Bash, input: {{command: "pytest -q"}}, result_size_bytes: 80000}}
      - tool: {{name: Read, decision: reject, source: user_reject, input: {{file_path: /etc/passwd}}}}
      - commit: {{}}
      - internal_error: {{name: TypeError}}
      - api_request: {{response_length: 70000}}
"""


def _config(tmp_path: Path, environ: dict[str, str]) -> TelemetryConfig:
    home, cwd = tmp_path / "home", tmp_path / "project"
    for directory in (home, cwd):
        directory.mkdir(exist_ok=True)
    environ = {"CLAUDE_CODE_ENABLE_TELEMETRY": "1", **environ}
    return load_config(environ, cwd=cwd, home=home, managed_path=tmp_path / "etc" / "managed-settings.json")


def _compile(config: TelemetryConfig, fields: str = "", prompt: str = "Fix it") -> Timeline:
    text = SCENARIO.format(fields="".join(f"    {line}\n" for line in fields.splitlines()), prompt=prompt)
    scenario = load_scenario_text(text, "content.yaml")
    return derive_spans(compile_scenario(scenario, config.emit), seed=scenario.seed)


def _events(timeline: Timeline, name: str) -> list[dict]:
    return [dict(r.attributes) for r in timeline.records if r.signal == EVENT and r.name == name]


def _tool_spans(timeline: Timeline) -> dict[str, tuple[dict, dict]]:
    """By tool name: each claude_code.tool span's attributes, and its tool.output event's (or {})."""
    out = {}
    for span in timeline.spans:
        if span.name == TOOL:
            attributes = dict(span.attributes)
            content = next((dict(e.attributes) for e in span.events if e.name == TOOL_OUTPUT), {})
            out[
                attributes["tool_name"] + ("/commit" if "git" in str(attributes.get("bash_argv0")) else "")
            ] = (
                attributes,
                content,
            )
    return out


def test_disable_error_reporting_silences_internal_errors(tmp_path: Path) -> None:
    assert len(_events(_compile(_config(tmp_path, {})), "internal_error")) == 1
    config = _config(tmp_path, {"DISABLE_ERROR_REPORTING": "1"})
    assert _events(_compile(config), "internal_error") == []
    assert masked_view(config)["internal_errors"] is False


def test_raw_api_bodies_from_the_environment_and_a_session_of_its_own(tmp_path: Path) -> None:
    inline = _compile(_config(tmp_path, {"OTEL_LOG_RAW_API_BODIES": "1"}))
    assert len(_events(inline, "api_request_body")) == 2
    assert all("body" in e and "body_ref" not in e for e in _events(inline, "api_response_body"))
    # The session's own setting wins over the environment's.
    filed = _compile(_config(tmp_path, {"OTEL_LOG_RAW_API_BODIES": "1"}), "log_raw_api_bodies: file:/var/b")
    assert [e["body_ref"].startswith("/var/b/") for e in _events(filed, "api_request_body")] == [True, True]
    relative = _config(tmp_path, {"OTEL_LOG_RAW_API_BODIES": "file:bodies"})
    assert relative.emit.log_raw_api_bodies == f"file:{tmp_path / 'project' / 'bodies'}"
    assert _events(_compile(_config(tmp_path, {})), "api_request_body") == []


def test_the_content_limit_cuts_responses_and_bodies_with_the_marker(tmp_path: Path) -> None:
    default = _compile(
        _config(tmp_path, {"OTEL_LOG_ASSISTANT_RESPONSES": "1", "OTEL_LOG_RAW_API_BODIES": "1"})
    )
    (answer,) = [e for e in _events(default, "assistant_response") if e["response_length"] == 70000]
    assert len(answer["response"]) == 61440 and answer["response"].endswith(MARKER)
    cut = [e for e in _events(default, "api_response_body") if e.get("body_truncated") == "true"]
    assert len(cut) == 1 and len(cut[0]["body"]) == 61440 and cut[0]["body_length"] > 70000

    config = _config(
        tmp_path,
        {
            "OTEL_LOG_ASSISTANT_RESPONSES": "1",
            "OTEL_LOG_RAW_API_BODIES": "1",
            "CLAUDE_CODE_OTEL_CONTENT_MAX_LENGTH": "2000",
        },
    )
    smaller = _compile(config)
    (answer,) = [e for e in _events(smaller, "assistant_response") if e["response_length"] == 70000]
    assert len(answer["response"]) == 2000 and answer["response"].endswith("exceeds 2000 character limit]")
    assert all(len(e["body"]) <= 2000 for e in _events(smaller, "api_request_body"))
    assert masked_view(config)["content"]["limit_events"] == 2000


def test_a_lower_sdk_value_limit_lowers_the_content_limit_and_cuts_every_long_string(tmp_path: Path) -> None:
    environ = {
        "OTEL_LOG_USER_PROMPTS": "1",
        "OTEL_LOG_TOOL_CONTENT": "1",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "300",
        # A signal's own limit wins over the general one: spans may keep 1000.
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "1000",
    }
    timeline = _compile(_config(tmp_path, environ), prompt="x" * 500)
    (answer,) = [e for e in _events(timeline, "assistant_response") if e["response_length"] == 70000]
    assert len(answer["response"]) == 300 and "[TRUNCATED" in answer["response"]
    # Not content: the prompt is cut by the SDK, without a marker.
    (prompt,) = _events(timeline, "user_prompt")
    assert prompt["prompt"] == "x" * 300
    bash = _tool_spans(timeline)["Bash"][1]["tool_output"]
    assert len(bash) == 1000 and bash.endswith("exceeds 1000 character limit]")


def test_tool_details_reach_the_tool_spans(tmp_path: Path) -> None:
    spans = _tool_spans(_compile(_config(tmp_path, {"OTEL_LOG_TOOL_DETAILS": "1"})))
    write, bash, read, commit = (spans[k][0] for k in ("Write", "Bash", "Read", "Bash/commit"))
    assert write["file_path"] == "/src/app.py"
    assert json.loads(write["tool_input"]) == {"file_path": "/src/app.py", "content": "print(1)"}
    assert bash["full_command"] == "pytest -q" and "file_path" not in bash
    assert read["file_path"] == "/etc/passwd"  # a rejected call's span still names its file
    assert commit["full_command"].startswith("git commit")
    # The detail attributes stand with the others the call's input gives, before its ids.
    keys = list(bash)
    assert keys.index("bash_argv0") < keys.index("full_command") < keys.index("tool_use_id")

    hidden = _tool_spans(_compile(_config(tmp_path, {})))
    assert all(
        not {"file_path", "full_command", "tool_input"} & set(attributes) for attributes, _ in hidden.values()
    )


def test_tool_content_is_a_tool_output_event_of_the_calls_that_ran(tmp_path: Path) -> None:
    spans = _tool_spans(_compile(_config(tmp_path, {"OTEL_LOG_TOOL_CONTENT": "1"})))
    write = spans["Write"][1]
    assert json.loads(write["tool_input"]) == {"file_path": "/src/app.py", "content": "print(1)"}
    assert len(write["tool_output"]) == 300
    bash = spans["Bash"][1]["tool_output"]
    assert len(bash) == 61440 and bash.endswith(MARKER)  # 80,000 characters of output, cut
    assert spans["Read"][1] == {}  # rejected: it never ran, so it has no output
    assert all(content == {} for _, content in _tool_spans(_compile(_config(tmp_path, {}))).values())


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CLAUDE_CODE_OTEL_CONTENT_MAX_LENGTH", "60KB", "not a positive whole number of characters"),
        ("CLAUDE_CODE_OTEL_CONTENT_MAX_LENGTH", "0", "not a positive whole number of characters"),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-1", "not a positive whole number of characters"),
        ("OTEL_LOG_RAW_API_BODIES", "inline", "neither 1 nor file:<directory>"),
    ],
)
def test_a_bad_content_setting_is_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, {variable: value})
    assert str(caught.value).startswith(f"{variable}: '{value}'") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_truncation_counts_utf16_units_and_never_splits_a_pair() -> None:
    text = "😀" * 40  # 80 UTF-16 code units
    short, cut = truncate_content(text, 80)
    assert (short, cut) == (text, False)
    tiny, cut = truncate_content(text, 9)  # shorter than the marker: a bare prefix, whole characters
    assert cut and tiny == "😀" * 4
