"""Compile a Scenario into a Timeline: the exact records each simulated Claude Code process emits."""

from __future__ import annotations

import bisect
import hashlib
import json
import random
import string
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from claude_telemetry_cli.contract import (
    BUILTIN_PLUGINS,
    MODEL_PRICES,
    SERVICE_NAME,
    ModelPrice,
    Profile,
    get_profile,
    price_request,
)
from claude_telemetry_cli.errors import ScenarioError
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import (
    EVENT,
    METRIC,
    AttrValue,
    Record,
    SessionInfo,
    Signal,
    Timeline,
    attrs,
)
from claude_telemetry_cli.scenario.model import (
    BUILTIN_PLUGIN_NAMES,
    STEP_KINDS,
    Active,
    ApiError,
    ApiRequest,
    Commit,
    Edit,
    Plugin,
    Prompt,
    PullRequest,
    Scenario,
    Session,
    Step,
    Tool,
    default_source,
    effective_model,
    unpriced_requests,
)

__all__ = ["compile_scenario", "scenario_summary", "session_length"]

# Time is kept in integer microseconds so offsets add up exactly; Record.at is seconds.
_MS = 1_000
_S = 1_000_000

# Start-up as the 2.1.331 capture shows it: managed settings first, plugins ~24 ms later, one ms apart,
# session.count just after them, the first prompt ~100 ms in.
_PLUGINS_AFTER = 24 * _MS
_PLUGIN_GAP = 1 * _MS
_FIRST_STEP_AFTER = 100 * _MS
# A permission check follows the model's tool_use by a few ms (15 ms for an edit, 5 ms for Bash, observed).
_EDIT_DECISION_GAP = 15 * _MS
_TOOL_DECISION_GAP = 5 * _MS
_SESSION_END_GAP = 10 * _MS
_RETENTION_SWEEP_AFTER = 5 * _S

_REDACTED = "<REDACTED>"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_TOKEN_TYPES = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cacheRead", "cache_read_tokens"),
    ("cacheCreation", "cache_creation_tokens"),
)
_ATTRIBUTION = (
    ("agent.name", "agent_name"),
    ("skill.name", "skill_name"),
    ("plugin.name", "plugin_name"),
    ("marketplace.name", "marketplace_name"),
    ("mcp_server.name", "mcp_server_name"),
    ("mcp_tool.name", "mcp_tool_name"),
)
_BUILTIN_HASHES = dict(BUILTIN_PLUGINS)


def compile_scenario(scenario: Scenario, options: EmitOptions | None = None) -> Timeline:
    """Every record every session copy emits, ordered by (time, session, emission order)."""
    options = options or EmitOptions()
    context = _Context(scenario, options, get_profile(options.profile))
    infos: list[SessionInfo] = []
    records: list[Record] = []
    for i, entry in enumerate(scenario.sessions):
        user_id = entry.user.id or _hex(random.Random(f"{scenario.seed}/user/{_identity(entry, i)}"), 64)
        for k in range(entry.repeat):
            start = _us(entry.start_at) + k * _us(entry.repeat_every)
            label = entry.label or f"sessions[{i}]"
            if entry.repeat > 1:
                label = f"{label}#{k + 1}"
            process = _Process(context, entry, (i, k), len(infos), start, user_id, label)
            info, emitted = process.run()
            infos.append(info)
            records.extend(emitted)
    # Stable: records of one session at one instant keep their emission order.
    records.sort(key=lambda r: (r.at, r.session))
    return Timeline(scenario.name, context.profile.name, tuple(infos), tuple(records))


def session_length(session: Session) -> float:
    """Seconds from one copy's start to its end."""
    plugins = len(_plugins(session))
    return (
        _first_step_offset(plugins) + sum(sum(_step_timing(s)) for s in session.steps) + _SESSION_END_GAP
    ) / _S


def scenario_summary(scenario: Scenario) -> dict[str, Any]:
    """What `scenarios show` prints: sessions (repeats included), steps by kind, simulated duration."""
    steps: Counter[str] = Counter()
    sessions = 0
    duration = 0.0
    models: set[str] = set()
    users: set[str] = set()
    for i, entry in enumerate(scenario.sessions):
        sessions += entry.repeat
        users.add(entry.user.id or _identity(entry, i))
        for step in entry.steps:
            steps[step.kind] += entry.repeat
            if isinstance(step.body, (ApiRequest, ApiError)):
                models.add(effective_model(entry, step.body))
        last_start = entry.start_at + (entry.repeat - 1) * entry.repeat_every
        duration = max(duration, last_start + session_length(entry))
    return {
        "name": scenario.name,
        "description": scenario.description,
        "seed": scenario.seed,
        "sessions": sessions,
        "session_entries": len(scenario.sessions),
        "users": len(users),
        "steps": {kind: steps[kind] for kind in STEP_KINDS if steps[kind]},
        "models": sorted(models),
        "duration_seconds": round(duration, 6),
    }


def _identity(entry: Session, index: int) -> str:
    """Who the user is: entries naming the same person share one install id unless they give `id`."""
    user = entry.user
    return user.email or user.account_uuid or user.account_id or f"sessions[{index}]"


def _us(seconds: float) -> int:
    return round(seconds * _S)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _first_step_offset(plugin_count: int) -> int:
    return max(_FIRST_STEP_AFTER, _session_count_offset(plugin_count) + _MS)


def _session_count_offset(plugin_count: int) -> int:
    return _PLUGINS_AFTER + plugin_count * _PLUGIN_GAP + 3 * _MS


def _step_timing(step: Step) -> tuple[int, int]:
    """(before, after) in µs: the permission check before a tool runs, and the work itself."""
    body = step.body
    if isinstance(body, ApiRequest):
        return 0, body.duration_ms * _MS
    if isinstance(body, Edit):
        return _EDIT_DECISION_GAP, body.duration_ms * _MS if body.decision == "accept" else 0
    if isinstance(body, Tool):
        return _TOOL_DECISION_GAP, body.duration_ms * _MS if body.decision == "accept" else 0
    if isinstance(body, (Commit, PullRequest)):
        return _TOOL_DECISION_GAP, body.duration_ms * _MS
    if isinstance(body, ApiError):
        return 0, body.effective_total_ms * _MS
    if step.kind == "wait":
        return 0, _us(body)
    return 0, 0


def _plugins(session: Session) -> list[Plugin]:
    if session.plugins is None:
        return [Plugin(name=name) for name in BUILTIN_PLUGIN_NAMES]
    return list(session.plugins)


class _Context:
    """What every session of one compilation shares: the profile, the switches, the prices."""

    def __init__(self, scenario: Scenario, options: EmitOptions, profile: Profile) -> None:
        self.scenario = scenario
        self.options = options
        self.profile = profile
        self.prices: dict[str, ModelPrice] = dict(MODEL_PRICES)
        for name, price in scenario.prices.items():
            self.prices[name] = ModelPrice(
                price.input,
                price.output,
                price.cache_read if price.cache_read is not None else price.input * 0.1,
                price.cache_write if price.cache_write is not None else price.input * 1.25,
            )
        for i, j, model in unpriced_requests(scenario, set(self.prices)):
            raise ScenarioError(
                f"sessions[{i}].steps[{j}].api_request: unknown model {model!r} and no cost_usd; "
                f"known models: {', '.join(sorted(self.prices))}",
                path=scenario.name,
            )
        self._faker = None

    def filler_text(self, length: int, seed: str) -> str:
        """Readable text of exactly `length` characters, the same for the same seed."""
        if self._faker is None:
            # Imported here: only revealed prompts and responses without scripted text need it.
            from faker import Faker

            self._faker = Faker("en_US")
        self._faker.seed_instance(seed)
        parts: list[str] = []
        total = 0
        while total < length:
            sentence = self._faker.sentence()
            parts.append(sentence)
            total += len(sentence) + 1
        return " ".join(parts)[:length]


@dataclass
class _Emission:
    at: int
    signal: Signal
    name: str
    value: float | None
    own: dict[str, AttrValue]
    prompt_id: str | None = None


class _Process:
    """One simulated Claude Code process: walks its steps and collects what it would emit."""

    def __init__(
        self,
        context: _Context,
        entry: Session,
        copy: tuple[int, int],
        index: int,
        start: int,
        user_id: str,
        label: str,
    ) -> None:
        self.context = context
        self.options = context.options
        self.profile = context.profile
        self.entry = entry
        self.index = index
        self.start = start
        self.label = label
        self.user_id = user_id
        seed = context.scenario.seed
        self.text_seed = f"{seed}/text/{copy[0]}/{copy[1]}"
        # One generator per copy: ids of one session do not shift when another session is edited, and
        # content gates and profiles never change an id (every id is drawn whether or not it is emitted).
        self.rng = random.Random(f"{seed}/session/{copy[0]}/{copy[1]}")
        # Drawn even when the session names its id, so the ids after it stay the same either way.
        drawn = self._uuid()
        self.session_id = entry.session_id or drawn
        self.cursor = start
        self.emissions: list[_Emission] = []
        self.prompt_id: str | None = None
        self.request_id: str | None = None
        # The latest request's model is the one that made the edits that follow it.
        self.model = entry.model
        self.texts = 0

    # -- ids -------------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _base62(self, prefix: str) -> str:
        return prefix + "".join(self.rng.choice(_BASE62) for _ in range(24))

    def _text(self, length: int) -> str:
        self.texts += 1
        return self.context.filler_text(length, f"{self.text_seed}/{self.texts}")

    # -- emission --------------------------------------------------------------------------------

    def _metric(self, at: int, name: str, value: float, own: dict[str, AttrValue | None]) -> None:
        spec = self.profile.metrics.get(name)
        if spec is None:
            return
        # The profile decides which attributes exist; the order is the real client's wire order.
        keys = set(spec.attribute_keys)
        kept = {k: v for k, v in own.items() if k in keys and v is not None}
        self.emissions.append(_Emission(at, METRIC, name, float(value), kept))

    def _event(self, at: int, name: str, own: dict[str, AttrValue | None]) -> None:
        if not self.profile.emits_events or name not in self.profile.events:
            return
        spec = self.profile.events[name]
        unknown = set(own) - set(spec.attribute_keys)
        if unknown:
            raise AssertionError(f"event {name} has no attributes {sorted(unknown)} in the contract")
        ordered = {k: own[k] for k in spec.attribute_keys if own.get(k) is not None}
        self.emissions.append(_Emission(at, EVENT, name, None, ordered, self.prompt_id))

    def _standard(self, event: bool) -> dict[str, AttrValue]:
        options, user, entry = self.options, self.entry.user, self.entry
        values: dict[str, AttrValue | None] = {
            "user.id": self.user_id,
            "session.id": self.session_id if event or options.include_session_id else None,
            "app.version": entry.app_version if options.include_version else None,
            "app.entrypoint": entry.entrypoint if options.include_entrypoint else None,
            "organization.id": user.organization_id,
            "user.email": user.email,
            "user.account_uuid": user.account_uuid if event or options.include_account_uuid else None,
            "user.account_id": user.account_id if event or options.include_account_uuid else None,
            "anthropic.provider": entry.provider,
            "anthropic.custom_base_url": entry.custom_base_url,
            "terminal.type": entry.terminal_type,
        }
        out = {
            a.key: values[a.key] for a in self.profile.standard_attributes if values.get(a.key) is not None
        }
        # Resource pairs on points arrived with events; the 2025-05 page (no events) has neither.
        if self.profile.emits_events and (event or options.include_resource_attributes):
            for key, value in options.resource_attributes:
                out.setdefault(key, value)
        return out

    def _resource(self) -> dict[str, AttrValue]:
        # Pairs first; a built-in key keeps the pair's position but its own value, as a JS spread merge does.
        resource: dict[str, AttrValue] = dict(self.options.resource_attributes)
        resource.update(
            {
                "host.arch": self.entry.host_arch,
                "os.type": self.entry.os_type,
                "os.version": self.entry.os_version,
                "service.name": SERVICE_NAME,
                "service.version": self.entry.app_version,
            }
        )
        return resource

    # -- the session -----------------------------------------------------------------------------

    def run(self) -> tuple[SessionInfo, list[Record]]:
        self._startup()
        for step in self.entry.steps:
            before, after = _step_timing(step)
            getattr(self, f"_step_{step.kind}")(step.body, before, after)
        end = self.cursor + _SESSION_END_GAP
        self._retention_sweep(min(self.start + _RETENTION_SWEEP_AFTER, end))
        info = SessionInfo(
            index=self.index,
            session_id=self.session_id,
            app_version=self.entry.app_version,
            resource=attrs(self._resource()),
            start_at=self.start / _S,
            end_at=end / _S,
            label=self.label,
        )
        return info, self._records()

    def _records(self) -> list[Record]:
        metric_standard = self._standard(event=False)
        event_standard = self._standard(event=True)
        records = []
        sequence = 0
        for e in self.emissions:
            if e.signal == METRIC:
                attributes = {**metric_standard, **e.own}
            else:
                attributes = {**event_standard, "event.name": e.name, "event.sequence": sequence}
                if e.prompt_id is not None:
                    attributes["prompt.id"] = e.prompt_id
                attributes.update(e.own)
                sequence += 1
            records.append(Record(e.at / _S, self.index, e.signal, e.name, e.value, attrs(attributes)))
        return records

    def _startup(self) -> None:
        start = self.start
        plugins = _plugins(self.entry)
        if self.profile.startup_events:
            self._event(
                start,
                "managed_settings_resolved",
                {
                    "managed_settings.trigger": "startup",
                    "managed_settings.sources": (),
                    "managed_settings.source_behavior": "first-wins",
                    "managed_settings.helper.state": "none",
                    "managed_settings.helper.applied": "none",
                },
            )
            for j, plugin in enumerate(plugins):
                self._event(
                    start + _PLUGINS_AFTER + j * _PLUGIN_GAP, "plugin_loaded", self._plugin_attributes(plugin)
                )
        self._metric(
            start + _session_count_offset(len(plugins)),
            "claude_code.session.count",
            1,
            {"start_type": self.entry.start_type},
        )
        self.cursor = start + _first_step_offset(len(plugins))

    def _plugin_attributes(self, plugin: Plugin) -> dict[str, AttrValue | None]:
        builtin = plugin.name in _BUILTIN_HASHES and plugin.marketplace == "builtin"
        id_hash = plugin.id_hash
        if id_hash is None:
            id_hash = (
                _BUILTIN_HASHES[plugin.name]
                if builtin
                else hashlib.sha256(f"{plugin.name}@{plugin.marketplace}".encode()).hexdigest()[:16]
            )
        return {
            "plugin.name": plugin.name,
            "marketplace.name": plugin.marketplace,
            "plugin.scope": plugin.scope,
            "enabled_via": plugin.enabled_via,
            "plugin_id_hash": id_hash,
            "has_hooks": plugin.has_hooks if plugin.has_hooks is not None else builtin,
            "has_mcp": plugin.has_mcp,
            "host_owned_mcp": plugin.host_owned_mcp,
            "skill_path_count": plugin.skill_path_count,
            "command_path_count": plugin.command_path_count,
            "agent_path_count": plugin.agent_path_count,
            "safe_mode": "true" if self.entry.safe_mode else "false",
        }

    def _retention_sweep(self, at: int) -> None:
        values = {
            "result": "complete",
            "period_days": "30",
            "used_default": "true",
            "transcripts_deleted": "0",
            "transcripts_exempted_desktop": "0",
            "session_files_deleted": "0",
            "artifacts_deleted": "0",
            "files_retained_fresh": str(self.rng.randint(0, 40)),
            "files_past_cutoff": "0",
            "error_count": "0",
            "history_entries_pruned": "0",
        }
        # It runs in the background: it lands between whatever the session was doing at that moment.
        position = bisect.bisect_right([e.at for e in self.emissions], at)
        earlier_events = [e for e in self.emissions[:position] if e.signal == EVENT]
        self.prompt_id = earlier_events[-1].prompt_id if earlier_events else None
        before = len(self.emissions)
        self._event(at, "retention_sweep", values)
        if len(self.emissions) > before:
            self.emissions.insert(position, self.emissions.pop())

    # -- steps -----------------------------------------------------------------------------------

    def _step_prompt(self, prompt: Prompt, before: int, after: int) -> None:
        self.prompt_id = self._uuid()
        message_uuid = self._uuid()
        length = prompt.effective_length
        text = _REDACTED
        if self.options.log_user_prompts:
            text = prompt.text if prompt.text is not None else self._text(length)
        self._event(
            self.cursor,
            "user_prompt",
            {
                "prompt_length": str(length),
                "prompt": text,
                "prompt_text": text,
                "message.uuid": message_uuid,
            },
        )

    def _step_api_request(self, request: ApiRequest, before: int, after: int) -> None:
        model = effective_model(self.entry, request)
        effort = request.effort or self.entry.effort
        cost = request.cost_usd
        if cost is None:
            cost = price_request(
                self.context.prices[model],
                request.input_tokens,
                request.output_tokens,
                request.cache_read_tokens,
                request.cache_creation_tokens,
            )
        self.cursor += after
        at = self.cursor
        request_id = self._base62("req_")
        message_uuid = self._uuid()
        self.request_id = request_id
        self.model = model
        attribution = {key: getattr(request, field) for key, field in _ATTRIBUTION}
        measured = {
            "model": model,
            "query_source": request.query_source,
            "speed": "fast" if request.speed == "fast" else None,
            "effort": effort,
            **attribution,
        }
        self._metric(at, "claude_code.cost.usage", cost, measured)
        for token_type, field in _TOKEN_TYPES:
            self._metric(
                at, "claude_code.token.usage", getattr(request, field), {**measured, "type": token_type}
            )
        query_source = request.event_query_source or self.entry.query_source
        ttft = request.ttft_ms
        if ttft is None:
            ttft = max(0, request.duration_ms - max(2, request.duration_ms // 100))
        self._event(
            at,
            "api_request",
            {
                "model": model,
                "input_tokens": request.input_tokens,
                "output_tokens": request.output_tokens,
                "cache_read_tokens": request.cache_read_tokens,
                "cache_creation_tokens": request.cache_creation_tokens,
                "cache_creation_5m_tokens": request.cache_creation_5m_tokens,
                "cache_creation_1h_tokens": request.cache_creation_1h_tokens,
                "cost_usd": float(cost),
                "cost_usd_micros": round(cost * 1_000_000),
                "duration_ms": request.duration_ms,
                "ttft_ms": ttft,
                "request_id": request_id,
                "speed": request.speed,
                "query_source": query_source,
                "effort": effort,
                **attribution,
            },
        )
        length = request.effective_response_length
        if length:
            text = _REDACTED
            if self.options.reveal_responses:
                text = request.text if isinstance(request.text, str) else self._text(length)
            self._event(
                at,
                "assistant_response",
                {
                    "response_length": length,
                    "response": text,
                    "request_id": request_id,
                    "message.uuid": message_uuid,
                    "model": model,
                    "query_source": query_source,
                },
            )

    def _step_edit(self, edit: Edit, before: int, after: int) -> None:
        tool_use_id = self._base62("toolu_")
        source = edit.source or default_source(edit.decision)
        self.cursor += before
        self._event(
            self.cursor, "tool_decision", self._decision(edit.decision, source, edit.tool, tool_use_id)
        )
        self._metric(
            self.cursor,
            "claude_code.code_edit_tool.decision",
            1,
            {
                "decision": edit.decision,
                "source": source,
                "tool_name": edit.tool,
                "language": edit.language,
            },
        )
        if edit.decision != "accept":
            return
        self.cursor += after
        changed = edit.lines_added + edit.lines_removed
        model = edit.model or self.model
        self._metric(
            self.cursor,
            "claude_code.lines_of_code.count",
            edit.lines_added,
            {"type": "added", "model": model},
        )
        self._metric(
            self.cursor,
            "claude_code.lines_of_code.count",
            edit.lines_removed,
            {"type": "removed", "model": model},
        )
        self._event(
            self.cursor,
            "tool_result",
            self._result(
                edit.tool,
                tool_use_id,
                True,
                edit.duration_ms,
                _given(edit.input_size_bytes, 100 + 16 * changed),
                _given(edit.result_size_bytes, 140),
            ),
        )

    def _step_tool(self, tool: Tool, before: int, after: int) -> None:
        tool_use_id = self._base62("toolu_")
        source = tool.source or default_source(tool.decision)
        parameters = self._parameters(tool.parameters)
        self.cursor += before
        self._event(
            self.cursor,
            "tool_decision",
            {
                **self._decision(tool.decision, source, tool.name, tool_use_id, tool.tool_source),
                "tool_parameters": parameters,
            },
        )
        if tool.decision != "accept":
            return
        self.cursor += after
        error_type = None
        if not tool.success:
            error_type = tool.error_type or ("ShellError" if tool.name == "Bash" else "Error")
        result = self._result(
            tool.name,
            tool_use_id,
            tool.success,
            tool.duration_ms,
            _given(tool.input_size_bytes, 80),
            _given(tool.result_size_bytes, 120),
        )
        result["error_type"] = error_type
        result["tool_parameters"] = parameters
        if error_type is not None and self.options.log_tool_details:
            result["error"] = tool.error or error_type
        self._event(self.cursor, "tool_result", result)

    def _step_commit(self, commit: Commit, before: int, after: int) -> None:
        git_commit_id = _hex(self.rng, 40)
        command = commit.command or 'git commit -m "Add feature"'
        self._bash(
            commit,
            before,
            after,
            command,
            "Commit changes",
            "claude_code.commit.count",
            (78, 83),
            {"git_commit_id": git_commit_id},
        )

    def _step_pull_request(self, pull_request: PullRequest, before: int, after: int) -> None:
        command = pull_request.command or "gh pr create --fill"
        self._bash(
            pull_request,
            before,
            after,
            command,
            "Open a pull request",
            "claude_code.pull_request.count",
            (112, 96),
            {},
        )

    def _bash(
        self,
        step: Commit | PullRequest,
        before: int,
        after: int,
        command: str,
        description: str,
        counter: str,
        sizes: tuple[int, int],
        outcome: dict[str, Any],
    ) -> None:
        tool_use_id = self._base62("toolu_")
        parameters = {
            "bash_command": command.split()[0],
            "full_command": command,
            "timeout": 120000,
            "description": description,
            "dangerouslyDisableSandbox": False,
        }
        self.cursor += before
        self._event(
            self.cursor,
            "tool_decision",
            {
                **self._decision("accept", step.source, "Bash", tool_use_id),
                "tool_parameters": self._parameters(parameters),
            },
        )
        self.cursor += after
        self._metric(self.cursor, counter, 1, {})
        result = self._result(
            "Bash",
            tool_use_id,
            True,
            step.duration_ms,
            _given(step.input_size_bytes, sizes[0]),
            _given(step.result_size_bytes, sizes[1]),
        )
        result["tool_parameters"] = self._parameters({**parameters, **outcome})
        self._event(self.cursor, "tool_result", result)

    def _step_api_error(self, error: ApiError, before: int, after: int) -> None:
        self.cursor += after
        model = effective_model(self.entry, error)
        message = error.effective_error
        self._event(
            self.cursor,
            "api_error",
            {
                "model": model,
                "error": message,
                "status_code": error.status_code,
                "duration_ms": error.duration_ms,
                "attempt": error.attempt,
                "speed": error.speed,
                "query_source": error.event_query_source or self.entry.query_source,
                "effort": error.effort or self.entry.effort,
            },
        )
        if error.attempt > 1:
            self._event(
                self.cursor,
                "api_retries_exhausted",
                {
                    "model": model,
                    "error": message,
                    "status_code": error.status_code,
                    "total_attempts": error.attempt,
                    "total_retry_duration_ms": error.effective_total_ms,
                    "speed": error.speed,
                },
            )

    def _step_active(self, active: Active, before: int, after: int) -> None:
        for kind, seconds in (("user", active.user), ("cli", active.cli)):
            if seconds is not None:
                self._metric(self.cursor, "claude_code.active_time.total", seconds, {"type": kind})

    def _step_wait(self, seconds: float, before: int, after: int) -> None:
        self.cursor += after

    # -- shared event bodies ---------------------------------------------------------------------

    def _decision(
        self, decision: str, source: str, tool_name: str, tool_use_id: str, tool_source: str = "builtin"
    ) -> dict[str, AttrValue | None]:
        return {
            "decision": decision,
            "source": source,
            "tool_name": tool_name,
            "tool_use_id": tool_use_id,
            "tool_source": tool_source,
            "permission_mode": self.entry.permission_mode,
            "request_id": self.request_id,
        }

    def _result(
        self,
        tool_name: str,
        tool_use_id: str,
        success: bool,
        duration_ms: int,
        input_size: int,
        result_size: int,
    ) -> dict[str, AttrValue | None]:
        # Strings, not numbers: that is how 2.1.331 sends them.
        return {
            "tool_name": tool_name,
            "tool_use_id": tool_use_id,
            "success": "true" if success else "false",
            "duration_ms": str(duration_ms),
            "tool_input_size_bytes": str(input_size),
            "tool_result_size_bytes": str(result_size),
            "request_id": self.request_id,
        }

    def _parameters(self, parameters: dict[str, Any]) -> str | None:
        if not self.options.log_tool_details:
            return None
        # JSON.stringify spacing: what Claude Code puts on the wire.
        return json.dumps(parameters, separators=(",", ":"))


def _given(value: int | None, default: int) -> int:
    return default if value is None else value
