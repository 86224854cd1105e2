"""The generator's parameters: one frozen dataclass, its validation, presets and `--set` overrides."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_telemetry_cli.contract import MODEL_PRICES
from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.pairs import split_pair
from claude_telemetry_cli.scenario.bundled import PRESETS_DIR
from claude_telemetry_cli.scenario.limits import YamlRefused, check_nodes, compose

__all__ = [
    "PRESETS_DIR",
    "GenerateParams",
    "ParamError",
    "apply_overrides",
    "load_preset",
    "param_names",
    "preset_names",
]


# A weighted choice, e.g. {claude-opus-4-5: 0.6, claude-sonnet-4-5: 0.4}. Kept as (key, weight) pairs sorted
# by key: the same parameters give the same draws whatever order a file or a flag listed them in.
Mix = tuple[tuple[str, float], ...]

EFFORTS = ("none", "low", "medium", "high", "xhigh", "max")
OS_TYPES = ("darwin", "linux", "windows")
PERMISSION_MODES = ("default", "acceptEdits", "plan", "auto", "bypassPermissions")
START_TYPES = ("fresh", "resume", "continue", "agents_view")
EDIT_DECISIONS = (
    "accept/config",
    "accept/hook",
    "accept/user_permanent",
    "accept/user_temporary",
    "reject/config",
    "reject/hook",
    "reject/user_abort",
    "reject/user_reject",
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+/-]*$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+([-+.][0-9A-Za-z.-]+)?$")
_TIME_ZONE = re.compile(r"^UTC(?:([+-])(\d{2}):(\d{2}))?$")


class ParamError(UsageError):
    """A parameter is out of range; `param` names it so a preset can point at its line."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.detail = message


def _p(default: Any, kind: str, doc: str) -> Any:
    return field(default=default, metadata={"kind": kind, "doc": doc})


def _mix(**weights: float) -> Mix:
    return tuple(sorted(weights.items()))


def _mix_of(pairs: dict[str, float]) -> Mix:
    return tuple(sorted(pairs.items()))


@dataclass(frozen=True)
class GenerateParams:
    """Every knob of `generate`, with its default. The per-developer defaults are the calibrated ones."""

    # -- the population
    name: str = _p("generated", "str", "the scenario's name")
    description: str = _p("", "str", "the scenario's description")
    developers: int = _p(20, "int", "number of developers")
    teams: int = _p(3, "int", "number of teams; developers are split evenly")
    orgs: int = _p(1, "int", "number of organisations (organization.id, email domain); teams split evenly")
    days: int = _p(5, "int", "length of the period in days")
    seed: int = _p(0, "int", "seed of every random draw and fake value")
    # -- the calendar
    start_weekday: int = _p(0, "int", "weekday of day 0: 0 Monday ... 6 Sunday")
    work_start_hour: float = _p(9.0, "float", "local hour the working day starts")
    work_hours: float = _p(8.0, "float", "length of the working day in hours")
    time_zones: Mix = _p(_mix(**{"UTC": 1.0}), "mix", "UTC offsets of the teams, e.g. UTC-05:00")
    active_day_rate: float = _p(0.7, "rate", "mean share of working days a developer uses Claude Code")
    weekend_activity: float = _p(0.03, "rate", "chance a developer uses it on a weekend day")
    # -- the volume
    sessions_per_day: float = _p(3.0, "float", "mean sessions per developer per active day")
    prompts_per_session: float = _p(8.5, "float", "mean prompts per session")
    requests_per_prompt: float = _p(6.0, "float", "mean main-thread requests per prompt")
    developer_sigma: float = _p(0.3, "float", "lognormal sigma of a developer's intensity")
    day_sigma: float = _p(0.25, "float", "lognormal sigma of one day's intensity")
    session_sigma: float = _p(0.5, "float", "lognormal sigma of prompts per session")
    # -- the tokens
    context_tokens: int = _p(22000, "int", "context at a session's start (system prompt, tools, CLAUDE.md)")
    output_tokens: int = _p(760, "int", "median output tokens of a main request")
    tool_result_tokens: int = _p(1700, "int", "median tokens a tool result adds to the context")
    compact_threshold: int = _p(160000, "int", "context size that triggers an auto-compaction")
    # -- the models
    model_mix: Mix = _p(
        _mix(**{"claude-opus-4-5": 0.6, "claude-sonnet-4-5": 0.36, "claude-haiku-4-5": 0.04}),
        "mix",
        "main model of a developer",
    )
    model_loyalty: float = _p(0.8, "rate", "chance a session uses the developer's main model")
    effort_mix: Mix = _p(
        _mix(none=0.5, low=0.05, medium=0.2, high=0.2, max=0.05), "mix", "effort of Opus sessions"
    )
    subagent_share: float = _p(0.15, "rate", "share of requests made by subagents")
    subagent_model_mix: Mix = _p(
        _mix(**{"claude-haiku-4-5": 0.6, "claude-sonnet-4-5": 0.4}), "mix", "models of subagents"
    )
    auxiliary_share: float = _p(0.08, "rate", "share of auxiliary requests (titles, classifiers)")
    auxiliary_model: str = _p("claude-haiku-4-5", "str", "model of auxiliary requests")
    # -- the tools
    tool_mix: Mix = _p(
        _mix(
            Read=0.26,
            Bash=0.2,
            Grep=0.1,
            Glob=0.06,
            Edit=0.18,
            Write=0.04,
            NotebookEdit=0.005,
            TodoWrite=0.06,
            WebFetch=0.02,
            WebSearch=0.015,
            mcp__github__get_issue=0.01,
        ),
        "mix",
        "tools the model calls; Edit, Write, NotebookEdit are edits",
    )
    tool_failure_rate: float = _p(0.05, "rate", "chance a tool call fails")
    tool_reject_rate: float = _p(0.02, "rate", "chance a tool call is rejected")
    edit_decisions: Mix = _p(
        _mix(
            **{
                "accept/config": 0.45,
                "accept/user_temporary": 0.25,
                "accept/user_permanent": 0.14,
                "accept/hook": 0.02,
                "reject/user_reject": 0.1,
                "reject/user_abort": 0.03,
                "reject/hook": 0.01,
            }
        ),
        "mix",
        "decision/source of edits",
    )
    languages: Mix = _p(
        _mix(TypeScript=0.3, Python=0.28, Go=0.1, Java=0.08, Rust=0.05, Markdown=0.09, YAML=0.05, SQL=0.05),
        "mix",
        "languages edited",
    )
    commits_per_day: float = _p(2.0, "float", "mean commits per developer per active day")
    pull_requests_per_day: float = _p(0.5, "float", "mean pull requests per developer per active day")
    # -- the clients
    terminal_types: Mix = _p(
        _mix(
            vscode=0.34,
            cursor=0.12,
            **{"iTerm.app": 0.18},
            tmux=0.1,
            ghostty=0.06,
            WarpTerminal=0.05,
            Apple_Terminal=0.05,
            xterm=0.1,
        ),
        "mix",
        "terminal.type of developers",
    )
    client_versions: Mix = _p(
        _mix(**{"2.1.331": 0.55, "2.1.300": 0.3, "2.1.197": 0.15}), "mix", "Claude Code versions"
    )
    os_types: Mix = _p(_mix(darwin=0.6, linux=0.35, windows=0.05), "mix", "operating systems")
    permission_modes: Mix = _p(
        _mix(default=0.62, acceptEdits=0.3, plan=0.05, bypassPermissions=0.03), "mix", "permission modes"
    )
    start_types: Mix = _p(
        _mix(fresh=0.7, resume=0.15, **{"continue": 0.15}), "mix", "start of sessions after the first"
    )
    # -- the errors
    error_rates: Mix = _p(
        _mix(**{"429": 0.002, "500": 0.001, "529": 0.002, "connection": 0.001}),
        "mix",
        "chance per request of a failed request, by HTTP status",
    )
    retry_rate: float = _p(0.5, "rate", "chance a failed attempt is retried once more")
    max_attempts: int = _p(11, "int", "attempts before Claude Code gives up (10 retries)")
    incident_day: int | None = _p(None, "int?", "day of an error burst; null for none")
    incident_start_hour: float = _p(14.0, "float", "hour (scenario time, UTC) the burst starts")
    incident_hours: float = _p(2.0, "float", "length of the burst in hours")
    incident_error_rates: Mix = _p(
        _mix(**{"529": 0.3, "500": 0.05, "429": 0.08, "connection": 0.02}),
        "mix",
        "error rates during the burst",
    )

    def validate(self) -> GenerateParams:
        """Raise ParamError (one line, the parameter and its allowed range) unless every value is usable."""
        _int_range(self, "developers", 1, 1_000_000)
        _int_range(self, "teams", 1, self.developers, "the number of developers")
        _int_range(self, "orgs", 1, self.teams, "the number of teams")
        _int_range(self, "days", 1, 3660)
        _int_range(self, "seed", 0, 2**63 - 1)
        if not self.name.strip():
            raise ParamError("name", "must not be empty")
        _int_range(self, "start_weekday", 0, 6)
        _float_range(self, "work_start_hour", 0, 23.99)
        _float_range(self, "work_hours", 0.25, 24)
        for rate in ("active_day_rate", "weekend_activity", "model_loyalty", "tool_failure_rate"):
            _float_range(self, rate, 0, 1)
        for rate in ("subagent_share", "auxiliary_share", "tool_reject_rate", "retry_rate"):
            _float_range(self, rate, 0, 1)
        if self.subagent_share + self.auxiliary_share > 0.8:
            raise ParamError(
                "subagent_share",
                f"with auxiliary_share must be at most 0.8 together (main requests drive the rest), got "
                f"{self.subagent_share:g} + {self.auxiliary_share:g}",
            )
        _float_range(self, "sessions_per_day", 1, 50)
        _float_range(self, "prompts_per_session", 1, 500)
        _float_range(self, "requests_per_prompt", 1, 100)
        for sigma in ("developer_sigma", "day_sigma", "session_sigma"):
            _float_range(self, sigma, 0, 2)
        _int_range(self, "context_tokens", 0, 500_000)
        _int_range(self, "output_tokens", 1, 64_000)
        _int_range(self, "tool_result_tokens", 0, 200_000)
        _int_range(self, "compact_threshold", self.context_tokens + 1000, 2_000_000, "context_tokens + 1000")
        _float_range(self, "commits_per_day", 0, 100)
        _float_range(self, "pull_requests_per_day", 0, 100)
        _int_range(self, "max_attempts", 1, 20)
        _mix_check(self, "time_zones", _TIME_ZONE.match, "UTC or UTC+HH:MM / UTC-HH:MM")
        for name in self.time_zones:
            offset = time_zone_offset(name[0])
            if not -12 * 3600 <= offset <= 14 * 3600:
                raise ParamError("time_zones", f"{name[0]!r} is outside UTC-12:00 .. UTC+14:00")
        models = sorted(MODEL_PRICES)
        _mix_check(self, "model_mix", models.__contains__, f"one of {', '.join(models)}")
        _mix_check(self, "subagent_model_mix", models.__contains__, f"one of {', '.join(models)}")
        if self.auxiliary_model not in MODEL_PRICES:
            raise ParamError(
                "auxiliary_model", f"must be one of {', '.join(models)}, got {self.auxiliary_model!r}"
            )
        _mix_check(self, "effort_mix", EFFORTS.__contains__, f"one of {', '.join(EFFORTS)}")
        _mix_check(self, "tool_mix", _NAME.match, "a tool name such as Read or mcp__server__tool")
        _mix_check(self, "edit_decisions", EDIT_DECISIONS.__contains__, f"one of {', '.join(EDIT_DECISIONS)}")
        _mix_check(self, "languages", _NAME.match, "a language name such as Python")
        _mix_check(self, "terminal_types", _NAME.match, "a terminal name such as vscode")
        _mix_check(self, "client_versions", _VERSION.match, "a version such as 2.1.331")
        _mix_check(self, "os_types", OS_TYPES.__contains__, f"one of {', '.join(OS_TYPES)}")
        _mix_check(
            self, "permission_modes", PERMISSION_MODES.__contains__, f"one of {', '.join(PERMISSION_MODES)}"
        )
        _mix_check(self, "start_types", START_TYPES.__contains__, f"one of {', '.join(START_TYPES)}")
        for name in ("error_rates", "incident_error_rates"):
            _mix_check(self, name, _is_error_kind, "connection or an HTTP status 400-599", rates=True)
        if self.incident_day is not None:
            _int_range(self, "incident_day", 0, self.days - 1, "days - 1")
        _float_range(self, "incident_start_hour", 0, 23.99)
        _float_range(self, "incident_hours", 0.01, 24 * 14)
        return self

    def replace(self, **changes: Any) -> GenerateParams:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Plain values, mixes as mappings: what --json reports and a preset file would say."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if f.metadata["kind"] == "mix" else value
        return out


def param_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(GenerateParams))


_FIELDS = {f.name: f for f in dataclasses.fields(GenerateParams)}


def time_zone_offset(name: str) -> int:
    """Seconds east of UTC of `UTC`, `UTC+05:30`, `UTC-08:00`."""
    found = _TIME_ZONE.match(name)
    if found is None or found.group(1) is None:
        return 0
    sign = 1 if found.group(1) == "+" else -1
    return sign * (int(found.group(2)) * 3600 + int(found.group(3)) * 60)


def scenario_origin(params: GenerateParams) -> int:
    """Seconds from the scenario start back to 00:00 UTC of day 0.

    0 unless a time zone's working day would start before that midnight (UTC+10:00 starting at 09:00):
    then the scenario starts that many whole hours earlier, so no session starts before it.
    """
    earliest = min(
        int(params.work_start_hour * 3600) - 3600 - time_zone_offset(tz) for tz, _ in params.time_zones
    )
    return 0 if earliest >= 0 else math.ceil(-earliest / 3600) * 3600


def _is_error_kind(key: str) -> bool:
    return key == "connection" or (key.isdigit() and 400 <= int(key) <= 599)


def _int_range(params: GenerateParams, name: str, low: int, high: int, high_name: str | None = None) -> None:
    value = getattr(params, name)
    if not low <= value <= high:
        upper = f"{high_name} ({high})" if high_name else f"{high:,}"
        raise ParamError(name, f"must be an integer from {low} to {upper}, got {value}")


def _float_range(params: GenerateParams, name: str, low: float, high: float) -> None:
    value = getattr(params, name)
    if not (math.isfinite(value) and low <= value <= high):
        raise ParamError(name, f"must be a number from {low:g} to {high:g}, got {value:g}")


def _mix_check(params: GenerateParams, name: str, key_ok, expected: str, *, rates: bool = False) -> None:
    mix: Mix = getattr(params, name)
    for key, weight in mix:
        if not key_ok(key):
            raise ParamError(name, f"unknown key {key!r}; each key must be {expected}")
        if not math.isfinite(weight) or weight < 0 or (rates and weight > 1):
            limit = "a rate from 0 to 1" if rates else "a weight >= 0"
            raise ParamError(name, f"{key}: must be {limit}, got {weight:g}")
    total = sum(w for _, w in mix)
    if rates:
        if total > 1:
            raise ParamError(name, f"the rates add up to {total:g}; together they must be at most 1")
    elif total <= 0:
        raise ParamError(name, "needs at least one key with a weight above 0")


# -- turning YAML values and --set strings into typed parameters -----------------------------------------


def _coerce(name: str, value: Any) -> Any:
    """The value a parameter holds, from what YAML or a --set produced; ParamError if it cannot be one."""
    kind = _FIELDS[name].metadata["kind"]
    if kind == "int" or (kind == "int?" and value is not None):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(
                name, f"must be an integer{' or null' if kind == 'int?' else ''}, got {_show(value)}"
            )
        return value
    if kind == "int?":
        return None
    if kind in ("float", "rate"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(name, f"must be a number, got {_show(value)}")
        return float(value)
    if kind == "str":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ParamError(name, f"must be a string, got {_show(value)}")
        return str(value)
    if not isinstance(value, dict) or not value:
        raise ParamError(
            name, f"must be a mapping of key: weight, e.g. {{a: 0.7, b: 0.3}}, got {_show(value)}"
        )
    pairs: dict[str, float] = {}
    for key, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ParamError(name, f"{key}: must be a number, got {_show(weight)}")
        pairs[str(key)] = float(weight)
    return _mix_of(pairs)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:56] + "...'"


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, list(_FIELDS), n=1, cutoff=0.7)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown parameter {name!r}{hint};"
        " `claude-telemetry scenarios show enterprise` explains every parameter"
    )


def _read_value(text: str) -> Any:
    """A `--set` value as YAML reads it, within the limits a preset file is read with."""
    import yaml

    node = compose(text, "--set value")
    if node is None:
        return None
    check_nodes(node, "--set value")
    try:
        return yaml.constructor.SafeConstructor().construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise YamlRefused(1, f"invalid YAML value: {exc.problem}") from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise YamlRefused(1, f"invalid YAML value: {exc}") from None


def apply_overrides(params: GenerateParams, overrides: list[str]) -> GenerateParams:
    """Apply `--set key=value` strings; `key.sub=value` changes one entry of a mix (error_rates.529=0.01)."""
    changes: dict[str, Any] = {}
    for item in overrides:
        key, text = split_pair(item, "--set", hint=", e.g. --set active_day_rate=0.8")
        name, dot, sub = key.partition(".")
        if name not in _FIELDS:
            raise UsageError(f"--set {key}: {_unknown(name)}")
        try:
            value = _read_value(text) if text.strip() else None
        except YamlRefused as exc:
            raise UsageError(f"--set {key}: cannot read {_show(text)} as a value: {exc.message}") from None
        if dot:
            if _FIELDS[name].metadata["kind"] != "mix":
                raise UsageError(f"--set {key}: {name} is not a mapping; write --set {name}=VALUE")
            current = dict(changes.get(name, getattr(params, name)))
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"--set {key}: must be a number, got {_show(value)}")
            current[sub] = float(value)
            changes[name] = _mix_of(current)
            continue
        try:
            changes[name] = _coerce(name, value)
        except ParamError as exc:
            raise UsageError(f"--set {exc.param}: {exc.detail}") from None
    return params.replace(**changes)


# -- presets -------------------------------------------------------------------------------------------


def preset_names() -> list[str]:
    if not PRESETS_DIR.is_dir():
        return []
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def resolve_preset(arg: str) -> Path:
    """A preset file as given, else a bundled preset by name."""
    path = Path(arg)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    name = arg.removesuffix(".yaml").removesuffix(".yml")
    candidate = PRESETS_DIR / f"{name}.yaml"
    if "/" not in name and candidate.is_file():
        return candidate
    names = ", ".join(preset_names()) or "(none found)"
    raise UsageError(f"unknown preset {arg!r}; choose one of: {names}, or give a preset .yaml file")


def load_preset(arg: str, base: GenerateParams | None = None) -> tuple[GenerateParams, dict[str, int], Path]:
    """Parameters from a preset (unnamed ones keep their defaults), the line of each key, and the file.

    Every problem is one line naming FILE:LINE: an unknown key, a value of the wrong type.
    """
    import yaml

    path = resolve_preset(arg)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot read the preset: {exc}") from None
    try:
        node = compose(text, "preset")
        if node is not None:
            check_nodes(node, "preset")
    except YamlRefused as exc:
        raise UsageError(f"{where}:{exc.line}: {exc.message}") from None
    if node is None:
        return (base or GenerateParams()), {}, path
    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"{where}:{node.start_mark.line + 1}: a preset is a mapping of parameter: value")
    constructor = yaml.constructor.SafeConstructor()
    changes: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in _FIELDS:
            raise UsageError(f"{where}:{line}: {_unknown(str(key))}")
        if key in lines:
            raise UsageError(f"{where}:{line}: duplicate parameter {key!r} (first at line {lines[key]})")
        try:
            value = constructor.construct_object(value_node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise UsageError(f"{where}:{line}: {key}: invalid value: {exc.problem}") from None
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            # A scalar that looks like a date or has an explicit tag, but is not one: `2001-13-45`.
            raise UsageError(f"{where}:{line}: {key}: invalid value: {exc}") from None
        try:
            changes[key] = _coerce(key, value)
        except ParamError as exc:
            raise UsageError(f"{where}:{line}: {exc.message}") from None
        lines[key] = line
    return (base or GenerateParams()).replace(**changes), lines, path
