"""Compile a Scenario into a Timeline: the exact records each simulated Claude Code process emits."""

from __future__ import annotations

import bisect
import hashlib
import json
import random
import re
import string
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
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
from claude_telemetry_cli.contract.profiles import PLUGIN_METRIC_KEY_PATTERN, REFUSAL_CATEGORIES
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
    ApiRefusal,
    ApiRequest,
    Commit,
    Compaction,
    Edit,
    FeedbackSurvey,
    Hook,
    HookConfig,
    HookPluginMetrics,
    McpConnect,
    PermissionModeChange,
    Plugin,
    PluginInstall,
    Prompt,
    PullRequest,
    Scenario,
    ScenarioHeader,
    Session,
    Skill,
    Step,
    Subagent,
    Tool,
    default_source,
    effective_model,
    unpriced_steps,
)

__all__ = ["compile_scenario", "compile_sessions", "scenario_summary", "session_length"]

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
_THIRD_PARTY = "third-party"
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
# Raw API bodies are cut at the content limit (60 KB) inline; tool_input values at 512 characters and the
# whole payload at about 4K.
_CONTENT_LIMIT = 60 * 1024
_INPUT_VALUE_LIMIT = 512
_INPUT_LIMIT = 4096
# A request body holds the whole conversation: about four characters per token of context.
_CHARS_PER_TOKEN = 4
_FILLER = "The quick brown fox jumps over the lazy dog. "
_FAKER_TEXT = 100_000
# Skills whose names events show verbatim; user-defined ones read `custom_skill` without tool details.
_BUILTIN_SKILL_SOURCES = ("bundled", "builtin", "built-in")


def _flag(value: bool) -> str:
    return "true" if value else "false"


# Steps that are one event whose attributes are the step's own fields: kind -> (event, (key, field,
# conversion)). A field left None leaves its attribute out.
_MAPPED_STEPS: dict[str, tuple[str, tuple[tuple[str, str, Any], ...]]] = {
    "auth": (
        "auth",
        (
            ("action", "action", None),
            ("success", "success", _flag),
            ("auth_method", "auth_method", None),
            ("error_category", "error_category", None),
            ("status_code", "status_code", str),
        ),
    ),
    "internal_error": ("internal_error", (("error_name", "name", None), ("error_code", "code", None))),
    "at_mention": ("at_mention", (("mention_type", "type", None), ("success", "success", _flag))),
    "compaction": (
        "compaction",
        (
            ("trigger", "trigger", None),
            ("success", "success", _flag),
            ("duration_ms", "duration_ms", None),
            ("pre_tokens", "pre_tokens", None),
            ("post_tokens", "post_tokens", None),
            ("error", "error", None),
            ("precompute_reuse", "precompute_reuse", None),
        ),
    ),
}


def compile_scenario(scenario: Scenario, options: EmitOptions | None = None) -> Timeline:
    """Every record every session copy emits, ordered by (time, session, emission order)."""
    options = options or EmitOptions()
    infos: list[SessionInfo] = []
    records: list[Record] = []
    for info, emitted in compile_sessions(scenario, enumerate(scenario.sessions), options):
        infos.append(info)
        records.extend(emitted)
    # Stable: records of one session at one instant keep their emission order.
    records.sort(key=lambda r: (r.at, r.session))
    return Timeline(scenario.name, get_profile(options.profile).name, tuple(infos), tuple(records))


def compile_sessions(
    header: ScenarioHeader,
    entries: Iterable[tuple[int, Session]],
    options: EmitOptions | None = None,
    *,
    first_process: int = 0,
) -> Iterator[tuple[SessionInfo, list[Record]]]:
    """Each simulated process of the session entries, as it is compiled: its SessionInfo and its
    records in time order (emission order at one instant). `entries` pairs each Session with its
    index in the file, which seeds its ids; processes are numbered in order from `first_process` (a
    later part of the file, compiled on its own, continues the numbering)."""
    options = options or EmitOptions()
    context = _Context(header, options, get_profile(options.profile))
    count = first_process
    for i, entry in entries:
        context.check_prices(i, entry)
        user_id = entry.user.id or _hex(random.Random(f"{header.seed}/user/{_identity(entry, i)}"), 64)
        for k in range(entry.repeat):
            start = _us(entry.start_at) + k * _us(entry.repeat_every)
            label = entry.label or f"sessions[{i}]"
            if entry.repeat > 1:
                label = f"{label}#{k + 1}"
            process = _Process(context, entry, (i, k), count, start, user_id, label)
            count += 1
            info, emitted = process.run()
            emitted.sort(key=_AT)
            yield info, emitted


_AT = attrgetter("at")


def session_length(session: Session) -> float:
    """Seconds from one copy's start to its end."""
    return (
        _first_step_offset(_startup_count(session))
        + sum(sum(_step_timing(s)) for s in session.steps)
        + _SESSION_END_GAP
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
            if isinstance(step.body, (ApiRequest, ApiError, ApiRefusal, Subagent)):
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


def _startup_count(session: Session) -> int:
    """Events logged one ms apart at start: plugin_loaded per plugin, then hook_registered per hook."""
    return len(_plugins(session)) + len(session.hooks)


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
    if isinstance(body, (Hook, Compaction, McpConnect)):
        return 0, body.duration_ms * _MS
    if isinstance(body, Subagent):
        # A background subagent's run does not hold the session up.
        return 0, 0 if body.background else body.duration_ms * _MS
    if step.kind == "wait":
        return 0, _us(body)
    return 0, 0


def _plugins(session: Session) -> list[Plugin]:
    if session.plugins is None:
        return [Plugin(name=name) for name in BUILTIN_PLUGIN_NAMES]
    return list(session.plugins)


class _Context:
    """What every session of one compilation shares: the profile, the switches, the prices."""

    def __init__(self, scenario: ScenarioHeader, options: EmitOptions, profile: Profile) -> None:
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
        self._faker = None

    def check_prices(self, index: int, session: Session) -> None:
        for j, model in unpriced_steps(session, set(self.prices)):
            raise ScenarioError(
                f"sessions[{index}].steps[{j}].api_request: unknown model {model!r} and no cost_usd; "
                f"known models: {', '.join(sorted(self.prices))}",
                path=self.scenario.name,
            )

    def filler_text(self, length: int, seed: str) -> str:
        """Readable text of exactly `length` characters, the same for the same seed."""
        if self._faker is None:
            # Imported here: only revealed prompts and responses without scripted text need it.
            from faker import Faker

            self._faker = Faker("en_US")
        self._faker.seed_instance(seed)
        parts: list[str] = []
        total = 0
        # Sentences take about a second per million characters: past _FAKER_TEXT, the text repeats.
        while total < min(length, _FAKER_TEXT):
            sentence = self._faker.sentence()
            parts.append(sentence)
            total += len(sentence) + 1
        text = " ".join(parts)
        return (text if len(text) >= length else " ".join([text] * (length // len(text) + 1)))[:length]


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
        # Ids of the events added with the full catalogue come from their own stream, so the ids existing
        # scenarios already produce stay what they were.
        self.more_rng = random.Random(f"{seed}/catalogue/{copy[0]}/{copy[1]}")
        self.entry_index = copy[0]
        self.step_path = ""
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
        self.permission_mode: str = entry.permission_mode
        # What a skill step attributes the following API requests to, until the next prompt.
        self.skill_attribution: dict[str, str] = {}
        self.appearance_id: str | None = None

    # -- ids -------------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _base62(self, prefix: str, rng: random.Random | None = None) -> str:
        return prefix + _base62_digits(rng or self.rng, 24)

    def _more_uuid(self) -> str:
        return str(uuid.UUID(int=self.more_rng.getrandbits(128), version=4))

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

    def _event(
        self,
        at: int,
        name: str,
        own: dict[str, AttrValue | None],
        plugin_metrics: dict[str, AttrValue] | None = None,
    ) -> None:
        if not self.profile.emits_events or name not in self.profile.events:
            return
        spec = self.profile.events[name]
        unknown = set(own) - set(spec.attribute_keys)
        if unknown:
            raise AssertionError(f"event {name} has no attributes {sorted(unknown)} in the contract")
        ordered = {k: own[k] for k in spec.attribute_keys if own.get(k) is not None}
        # Only hook_plugin_metrics carries keys of its plugin's choosing, after its own.
        for key, value in (plugin_metrics or {}).items():
            if (
                name != "hook_plugin_metrics"
                or key in ordered
                or not re.match(PLUGIN_METRIC_KEY_PATTERN, key)
            ):
                raise AssertionError(f"event {name} cannot carry the plugin metric {key!r}")
            ordered[key] = value
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
        for j, step in enumerate(self.entry.steps):
            self.step_path = f"sessions[{self.entry_index}].steps[{j}].{step.kind}"
            before, after = _step_timing(step)
            if step.kind in _MAPPED_STEPS:
                self._mapped(step.kind, step.body, after)
            else:
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
        for j, hook in enumerate(self.entry.hooks, start=len(plugins)):
            self._event(
                start + _PLUGINS_AFTER + j * _PLUGIN_GAP, "hook_registered", self._hook_registered(hook)
            )
        count = _startup_count(self.entry)
        self._metric(
            start + _session_count_offset(count),
            "claude_code.session.count",
            1,
            {"start_type": self.entry.start_type},
        )
        self.cursor = start + _first_step_offset(count)

    def _plugin_attributes(self, plugin: Plugin) -> dict[str, AttrValue | None]:
        builtin = plugin.name in _BUILTIN_HASHES and plugin.marketplace == "builtin"
        # A `plugins:` entry is the plugin as plugin_loaded shows it (`record` writes them from the wire),
        # so a third-party plugin's name is whatever the recording saw: no redaction here.
        return {
            "plugin.name": plugin.name,
            "marketplace.name": plugin.marketplace,
            "plugin.version": plugin.version,
            "plugin.scope": plugin.scope,
            "enabled_via": plugin.enabled_via,
            "plugin_id_hash": plugin.id_hash or _plugin_hash(plugin.name, plugin.marketplace),
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
        self.skill_attribution = {}
        length = prompt.effective_length
        text = _REDACTED
        if self.options.log_user_prompts:
            text = prompt.text if prompt.text is not None else self._text(length)
        source = command = None
        if prompt.command is not None:
            source = prompt.command_source or "builtin"
            # Custom, plugin and MCP command names collapse to their source without tool details.
            command = prompt.command if source == "builtin" or self.options.log_tool_details else source
        self._event(
            self.cursor,
            "user_prompt",
            {
                "prompt_length": str(length),
                "prompt": text,
                "prompt_text": text,
                # A command dispatch makes zero or many messages, so it names none.
                "message.uuid": message_uuid if command is None else None,
                "command_name": command,
                "command_source": source,
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
        started = self.cursor
        self.cursor += after
        at = self.cursor
        request_id = self._base62("req_")
        message_uuid = self._uuid()
        client_request_id = self._client_request_id()
        self.request_id = request_id
        self.model = model
        attribution = self._attribution(request)
        query_source = request.event_query_source or self.entry.query_source
        self._request_body(
            started,
            model,
            query_source,
            request.input_tokens + request.cache_read_tokens + request.cache_creation_tokens,
        )
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
        ttft = request.ttft_ms
        if ttft is None:
            ttft = max(0, request.duration_ms - max(2, request.duration_ms // 100))
        self._response_body(at, request, model, query_source, request_id)
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
                "client_request_id": client_request_id,
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
        result["mcp_server_scope"] = tool.mcp_server_scope
        result["tool_parameters"] = parameters
        if error_type is not None and self.options.log_tool_details:
            result["error"] = tool.error or error_type
        result["tool_input"] = self._tool_input(tool.input)
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
        result["tool_input"] = self._tool_input({"command": command, "description": description})
        self._event(self.cursor, "tool_result", result)

    def _step_api_error(self, error: ApiError, before: int, after: int) -> None:
        model = effective_model(self.entry, error)
        query_source = error.event_query_source or self.entry.query_source
        # One request body per attempt; the last attempt took duration_ms, the backoff came between.
        waited = after - error.duration_ms * _MS
        for k in range(error.attempt):
            offset = waited * k // (error.attempt - 1) if error.attempt > 1 else 0
            self._request_body(self.cursor + offset, model, query_source, 0)
        self.cursor += after
        message = error.effective_error
        # Drawn whether or not it is reported: an HTTP error response carries a request-id.
        request_id = self._base62("req_", self.more_rng)
        self._event(
            self.cursor,
            "api_error",
            {
                "model": model,
                "error": message,
                "status_code": error.status_code,
                "duration_ms": error.duration_ms,
                "attempt": error.attempt,
                "request_id": request_id if error.status_code is not None else None,
                "client_request_id": self._client_request_id(),
                "speed": error.speed,
                "query_source": query_source,
                "effort": error.effort or self.entry.effort,
                **self._attribution(error),
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

    def _mapped(self, kind: str, body: Any, after: int) -> None:
        if kind == "internal_error" and self.entry.provider != "firstParty":
            return  # not reported against Bedrock, Vertex or Foundry
        event, fields = _MAPPED_STEPS[kind]
        self.cursor += after
        own = {}
        for key, field, convert in fields:
            value = getattr(body, field)
            own[key] = convert(value) if convert is not None and value is not None else value
        self._event(self.cursor, event, own)

    def _step_api_refusal(self, refusal: ApiRefusal, before: int, after: int) -> None:
        hop = refusal.server_fallback_hop
        # Hop blocks carry no stop_details, hence neither has_category nor has_explanation.
        has_category = None if hop else refusal.category in REFUSAL_CATEGORIES
        self._event(
            self.cursor,
            "api_refusal",
            {
                "model": effective_model(self.entry, refusal),
                "request_id": self._base62("req_", self.more_rng),
                "query_source": refusal.event_query_source or self.entry.query_source,
                "speed": refusal.speed,
                "attempt": refusal.attempt,
                "effort": refusal.effort or self.entry.effort,
                "server_fallback_hop": hop,
                "has_category": has_category,
                "has_explanation": None if hop else refusal.has_explanation,
                "category": refusal.category if has_category and self.options.log_tool_details else None,
                **self._attribution(refusal),
            },
        )

    def _step_permission_mode(self, change: PermissionModeChange, before: int, after: int) -> None:
        current = self.permission_mode
        if change.from_mode not in (None, current):
            raise self._fail(f"from is {change.from_mode!r} but the session is in {current!r} here")
        if change.to == current:
            raise self._fail(f"the session is already in {current!r}")
        if change.trigger == "exit_plan_mode" and current != "plan":
            raise self._fail(f"trigger exit_plan_mode leaves plan mode, but the session is in {current!r}")
        self._event(
            self.cursor,
            "permission_mode_changed",
            {"from_mode": current, "to_mode": change.to, "trigger": change.trigger},
        )
        self.permission_mode = change.to

    def _step_mcp_connect(self, connection: McpConnect, before: int, after: int) -> None:
        self.cursor += after
        failed = connection.status == "failed"
        details = self.options.log_tool_details
        self._event(
            self.cursor,
            "mcp_server_connection",
            {
                "status": connection.status,
                "transport_type": connection.transport,
                "server_scope": connection.scope,
                "duration_ms": connection.duration_ms,
                "error_code": connection.error_code,
                "is_plugin": connection.plugin is not None,
                **self._plugin_identity(connection),
                "server_name": connection.server if details else None,
                "error": (connection.error or connection.error_code or "Connection failed")
                if failed and details
                else None,
            },
        )

    def _step_plugin_install(self, install: PluginInstall, before: int, after: int) -> None:
        official = install.is_official
        # A third-party marketplace's names are left out entirely, not replaced.
        named = self._may_name(official)
        self._event(
            self.cursor,
            "plugin_installed",
            {
                "marketplace.is_official": _flag(official),
                "install.trigger": install.trigger,
                "plugin.name": install.name if named else None,
                "plugin.version": install.version if named else None,
                "marketplace.name": install.marketplace if named else None,
            },
        )

    def _step_skill(self, skill: Skill, before: int, after: int) -> None:
        source = skill.effective_source
        official = skill.plugin_official
        plugin_named = skill.plugin is not None and self._may_name(official)
        verbatim = source in _BUILTIN_SKILL_SOURCES or official
        self._event(
            self.cursor,
            "skill_activated",
            {
                "skill.name": skill.name if self._may_name(verbatim) else "custom_skill",
                "invocation_trigger": skill.trigger,
                "skill.source": source,
                "skill.kind": skill.kind,
                "plugin.name": skill.plugin if plugin_named else None,
                "marketplace.name": skill.plugin_marketplace if plugin_named else None,
            },
        )
        # The cost counter's rules, with no gate: user-defined skills are named, third-party plugins not,
        # and only an official plugin's marketplace is given.
        third_party = skill.plugin is not None and not official
        attribution = {
            "skill.name": _THIRD_PARTY if third_party else skill.name,
            "plugin.name": None if skill.plugin is None else _THIRD_PARTY if third_party else skill.plugin,
            "marketplace.name": skill.plugin_marketplace if official else None,
        }
        self.skill_attribution = {k: v for k, v in attribution.items() if v is not None}

    def _step_hook(self, hook: Hook, before: int, after: int) -> None:
        execution = {
            "hook_event": hook.event,
            "hook_name": f"{hook.event}:{hook.matcher}" if hook.matcher else hook.event,
            "num_hooks": hook.hooks,
        }
        definitions = None
        if self.options.log_tool_details and self.entry.beta_tracing_detailed:
            definition = {"type": hook.type, "command": hook.command}
            definitions = json.dumps(
                [
                    {
                        "matcher": hook.matcher or "",
                        "hooks": [{k: v for k, v in definition.items() if v}] * hook.hooks,
                    }
                ],
                separators=(",", ":"),
            )
        context = {
            "managed_only": _flag(hook.managed_only),
            "hook_source": hook.effective_source,
            "safe_mode": _flag(self.entry.safe_mode),
            "hook_definitions": definitions,
        }
        self._event(self.cursor, "hook_execution_start", {**execution, **context})
        self.cursor += after
        outcome = {
            "num_success": hook.effective_succeeded,
            "num_blocking": hook.blocking,
            "num_non_blocking_error": hook.non_blocking_errors,
            "num_cancelled": hook.cancelled,
            "total_duration_ms": hook.duration_ms,
        }
        self._event(self.cursor, "hook_execution_complete", {**execution, **outcome, **context})

    def _step_hook_plugin_metrics(self, report: HookPluginMetrics, before: int, after: int) -> None:
        self._event(
            self.cursor,
            "hook_plugin_metrics",
            {"plugin_id": f"{report.plugin}@{report.plugin_marketplace}", "hook_event": report.event},
            plugin_metrics=dict(report.metrics),
        )

    def _step_subagent(self, agent: Subagent, before: int, after: int) -> None:
        self.cursor += after
        source = agent.effective_source
        built_in = source == "built-in"
        model = effective_model(self.entry, agent)
        final_model = agent.final_model or model
        self._event(
            self.cursor,
            "subagent_completed",
            {
                "agent_type": agent.type if self._may_name(built_in or agent.plugin_official) else "custom",
                "agent.source": source,
                "is_built_in": built_in,
                "is_async": agent.background,
                "total_tokens": agent.total_tokens,
                "total_tool_uses": agent.tool_uses,
                "duration_ms": agent.duration_ms,
                "model": model,
                "final_model": final_model,
                "model_swapped": final_model != model,
                **self._plugin_identity(agent),
            },
        )

    def _step_feedback_survey(self, survey: FeedbackSurvey, before: int, after: int) -> None:
        if survey.appearance_id is not None:
            self.appearance_id = survey.appearance_id
        elif survey.event_type == "appeared" or self.appearance_id is None:
            # A new survey instance: its later events (responded, ...) share this id.
            self.appearance_id = self._more_uuid()
        self._event(
            self.cursor,
            "feedback_survey",
            {
                "event_type": survey.event_type,
                "appearance_id": self.appearance_id,
                "survey_type": survey.survey_type,
                "response": survey.response,
                "enabled_via_override": survey.enabled_via_override
                if survey.survey_type == "session"
                else None,
            },
        )

    # -- helpers of the full event catalogue -----------------------------------------------------

    def _fail(self, message: str) -> ScenarioError:
        return ScenarioError(f"{self.step_path}: {message}", path=self.context.scenario.name)

    def _may_name(self, official: bool) -> bool:
        """Anthropic's plugins, skills and agents are always named; others only with tool details."""
        return official or self.options.log_tool_details

    def _plugin_identity(self, ref: McpConnect | Subagent | HookConfig) -> dict[str, AttrValue | None]:
        if ref.plugin is None:
            return {}
        return {
            "plugin_id_hash": _plugin_hash(ref.plugin, ref.plugin_marketplace),
            "plugin.name": ref.plugin if self._may_name(ref.plugin_official) else _THIRD_PARTY,
        }

    def _hook_registered(self, hook: HookConfig) -> dict[str, AttrValue | None]:
        return {
            "hook_event": hook.event,
            "hook_type": hook.type,
            "hook_source": hook.effective_source,
            "safe_mode": _flag(self.entry.safe_mode),
            "hook_matcher": hook.matcher if self.options.log_tool_details else None,
            **self._plugin_identity(hook),
        }

    def _attribution(self, step: ApiRequest | ApiError | ApiRefusal) -> dict[str, AttrValue | None]:
        # What the step says wins; else the skill active since the last prompt.
        return {
            key: getattr(step, field) if getattr(step, field) is not None else self.skill_attribution.get(key)
            for key, field in _ATTRIBUTION
        }

    def _client_request_id(self) -> str | None:
        # Drawn every time so that provider settings never shift the ids after it.
        client_request_id = self._more_uuid()
        first_party = self.entry.provider == "firstParty" and not self.entry.custom_base_url
        return client_request_id if first_party else None

    def _request_body(self, at: int, model: str, query_source: str, context_tokens: int) -> None:
        file_id = self._more_uuid()
        if self.entry.log_raw_api_bodies is None:
            return
        chars = context_tokens * _CHARS_PER_TOKEN
        # Past the content limit, filler is only counted: its size must not grow with the token count.
        shown = min(chars, _CONTENT_LIMIT)
        body = {
            "model": model,
            "max_tokens": 32000,
            "stream": True,
            "messages": [{"role": "user", "content": _filler(shown)}],
        }
        self._body_event(
            at, "api_request_body", body, f"{file_id}.request.json", model, query_source, {}, chars - shown
        )

    def _response_body(
        self, at: int, request: ApiRequest, model: str, query_source: str, request_id: str
    ) -> None:
        message_id = self._base62("msg_", self.more_rng)
        if self.entry.log_raw_api_bodies is None:
            return
        length = request.effective_response_length
        shown = length if isinstance(request.text, str) else min(length, _CONTENT_LIMIT)
        text = request.text if isinstance(request.text, str) else _filler(shown)
        body = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}] if length else [],
            "stop_reason": "end_turn" if length else "tool_use",
            "usage": {
                "input_tokens": request.input_tokens,
                "output_tokens": request.output_tokens,
                "cache_read_input_tokens": request.cache_read_tokens,
                "cache_creation_input_tokens": request.cache_creation_tokens,
            },
        }
        self._body_event(
            at,
            "api_response_body",
            body,
            f"{request_id}.response.json",
            model,
            query_source,
            {"request_id": request_id},
            length - shown,
        )

    def _body_event(
        self,
        at: int,
        name: str,
        body: dict[str, Any],
        file_name: str,
        model: str,
        query_source: str,
        more: dict[str, AttrValue],
        unseen: int = 0,
    ) -> None:
        """`unseen`: characters of filler left out of `body`'s one filler text (ASCII: one byte and
        one UTF-16 unit each), past what the inline body shows."""
        mode = self.entry.log_raw_api_bodies
        if mode is None:
            return
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if mode == "1":
            # Inline: measured and cut in UTF-16 code units, as JavaScript strings are.
            units = text.encode("utf-16-le")
            length = len(units) // 2 + unseen
            truncated = length > _CONTENT_LIMIT
            shown = units[: 2 * _CONTENT_LIMIT].decode("utf-16-le", errors="ignore") if truncated else text
            own = {"body": shown, "body_length": length, "body_truncated": "true" if truncated else None}
        else:
            directory = mode.removeprefix("file:").rstrip("/")
            own = {"body_ref": f"{directory}/{file_name}", "body_length": len(text.encode()) + unseen}
        self._event(at, name, {**own, "model": model, "query_source": query_source, **more})

    def _tool_input(self, arguments: dict[str, Any] | None) -> str | None:
        if arguments is None or not self.options.log_tool_details:
            return None
        cut = {k: v[:_INPUT_VALUE_LIMIT] if isinstance(v, str) else v for k, v in arguments.items()}
        return json.dumps(cut, separators=(",", ":"), ensure_ascii=False)[:_INPUT_LIMIT]

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
            "permission_mode": self.permission_mode,
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


def _base62_digits(rng: random.Random, count: int) -> str:
    """`count` of rng.choice(_BASE62), drawn exactly as choice() draws them (6 bits, again when the
    value is 62 or 63) at a quarter of the cost: ids are a sixth of a large compile."""
    bits = rng.getrandbits
    digits = []
    while len(digits) < count:
        r = bits(6)
        if r < 62:
            digits.append(_BASE62[r])
    return "".join(digits)


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def _filler(length: int) -> str:
    """Text of exactly `length` characters, cheap enough for bodies of hundreds of kilobytes."""
    return (_FILLER * (length // len(_FILLER) + 1))[:length]


def _plugin_hash(name: str, marketplace: str | None) -> str:
    """plugin_id_hash: the built-ins' observed values, else a stable hash of name and marketplace."""
    if marketplace == "builtin" and name in _BUILTIN_HASHES:
        return _BUILTIN_HASHES[name]
    return hashlib.sha256(f"{name}@{marketplace or ''}".encode()).hexdigest()[:16]
