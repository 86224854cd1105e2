"""One simulated Claude Code process: its start-up, the walk over its steps, and what it emits."""

from __future__ import annotations

import bisect
import random
import re
import uuid
from dataclasses import dataclass

from claude_telemetry_cli.contract import (
    MODEL_PRICES,
    PROFILES,
    SERVICE_NAME,
    SESSION_COUNT,
    ModelPrice,
    Profile,
    profile_for_version,
)
from claude_telemetry_cli.contract.content_limit import cut_to, truncate_content, utf16_length
from claude_telemetry_cli.contract.profiles import PLUGIN_METRIC_KEY_PATTERN
from claude_telemetry_cli.errors import ScenarioError
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import (
    EVENT,
    METRIC,
    Attributes,
    AttrValue,
    Record,
    SessionInfo,
    Signal,
    attrs,
)
from claude_telemetry_cli.scenario.compile.extensions import hook_registered, plugin_loaded
from claude_telemetry_cli.scenario.compile.steps import STEP_HANDLERS
from claude_telemetry_cli.scenario.compile.timing import (
    MS,
    PLUGIN_GAP,
    PLUGINS_AFTER,
    RETENTION_SWEEP_AFTER,
    SESSION_END_GAP,
    S,
    first_step_offset,
    session_count_offset,
    session_plugins,
    startup_count,
    step_timing,
)
from claude_telemetry_cli.scenario.compile.wire_values import base62_digits
from claude_telemetry_cli.scenario.model import (
    ATTRIBUTION_FIELDS,
    ApiError,
    ApiRefusal,
    ApiRequest,
    ScenarioHeader,
    Session,
    turn_final_requests,
    unpriced_steps,
)

__all__ = ["Context", "Process"]

# Readable filler text drawn sentence by sentence up to this length; longer text repeats it.
_FAKER_TEXT = 100_000


class Context:
    """What every session of one compilation shares: the profile, the switches, the prices."""

    def __init__(self, scenario: ScenarioHeader, options: EmitOptions, profile: Profile) -> None:
        self.scenario = scenario
        self.options = options
        self.profile = profile
        # `current`: each session in the shape of its client version; any other profile: every session.
        self.by_version = profile.name == "current"
        self._keys: dict[str, tuple[dict, dict]] = {}
        self.prices: dict[str, ModelPrice] = dict(MODEL_PRICES)
        for name, price in scenario.prices.items():
            self.prices[name] = ModelPrice(
                price.input,
                price.output,
                price.cache_read if price.cache_read is not None else price.input * 0.1,
                price.cache_write if price.cache_write is not None else price.input * 1.25,
            )
        self._faker = None

    def shape_of(self, entry: Session) -> tuple[Profile, str]:
        """The profile a session is emitted in, and the client version it reports."""
        if self.by_version:
            return profile_for_version(entry.app_version)[0], entry.app_version
        # A session that does not name its version reports the profile's.
        named = "app_version" in entry.model_fields_set
        return self.profile, entry.app_version if named or not self.profile.version else self.profile.version

    def keys(self, profile: Profile) -> tuple[dict, dict]:
        """The contract's keys per metric (a set) and per event (in wire order, and the set of every key
        the event has in any profile), looked up for every record: computed once per profile."""
        keys = self._keys.get(profile.name)
        if keys is None:
            metric_keys = {name: frozenset(spec.attribute_keys) for name, spec in profile.metrics.items()}
            event_keys = {
                name: (spec.attribute_keys, _EVENT_KEYS[name]) for name, spec in profile.events.items()
            }
            keys = self._keys[profile.name] = (metric_keys, event_keys)
        return keys

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


# Every key each event has in some profile: what a step may offer, each profile keeping its own.
_EVENT_KEYS: dict[str, frozenset[str]] = {}
for _profile in PROFILES.values():
    for _name, _spec in _profile.events.items():
        _EVENT_KEYS[_name] = _EVENT_KEYS.get(_name, frozenset()) | frozenset(_spec.attribute_keys)


@dataclass
class _Emission:
    at: int
    signal: Signal
    name: str
    value: float | None
    own: dict[str, AttrValue]
    prompt_id: str | None = None
    span_attributes: Attributes = ()


class Process:
    """One simulated Claude Code process: walks its steps and collects what it would emit. The step
    handlers (steps.STEP_HANDLERS) read and advance its state: the cursor, the current prompt, request,
    model, permission mode and skill attribution."""

    def __init__(
        self,
        context: Context,
        entry: Session,
        copy: tuple[int, int],
        index: int,
        start: int,
        user_id: str,
        label: str,
    ) -> None:
        self.context = context
        self.options = context.options
        self.profile, self.app_version = context.shape_of(entry)
        self.metric_keys, event_keys = context.keys(self.profile)
        self.event_keys = event_keys if self.profile.emits_events else {}
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
        self.step_index = 0
        # The api_request steps that end a turn: they answer in text unless the step says otherwise.
        self.turn_ends: frozenset[int] = frozenset()
        # Drawn even when the session names its id, so the ids after it stay the same either way.
        drawn = self.new_uuid()
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

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_base62(self, prefix: str, rng: random.Random | None = None) -> str:
        return prefix + base62_digits(rng or self.rng, 24)

    def catalogue_uuid(self) -> str:
        """A uuid from the stream of the events added with the full catalogue."""
        return str(uuid.UUID(int=self.more_rng.getrandbits(128), version=4))

    def text(self, length: int) -> str:
        self.texts += 1
        return self.context.filler_text(length, f"{self.text_seed}/{self.texts}")

    def client_request_id(self) -> str | None:
        # Drawn every time so that provider settings never shift the ids after it.
        client_request_id = self.catalogue_uuid()
        first_party = self.entry.provider == "firstParty" and not self.entry.custom_base_url
        return client_request_id if first_party else None

    # -- emission --------------------------------------------------------------------------------

    def metric(self, at: int, name: str, value: float, own: dict[str, AttrValue | None]) -> None:
        keys = self.metric_keys.get(name)
        if keys is None:
            return
        # The profile decides which attributes exist; the order is the real client's wire order.
        kept = {k: v for k, v in own.items() if k in keys and v is not None}
        self.emissions.append(_Emission(at, METRIC, name, float(value), kept))

    def event(
        self,
        at: int,
        name: str,
        own: dict[str, AttrValue | None],
        plugin_metrics: dict[str, AttrValue] | None = None,
        *,
        span_attributes: dict[str, AttrValue] | None = None,
    ) -> None:
        """Emit event `name` with its own attributes; `span_attributes`: what only the span derived from
        it carries (scenario.spans), never sent with the event."""
        keys = self.event_keys.get(name)
        if keys is None:
            return
        ordered_keys, known = keys
        unknown = own.keys() - known
        if unknown:
            raise AssertionError(f"event {name} has no attributes {sorted(unknown)} in the contract")
        ordered = {k: own[k] for k in ordered_keys if own.get(k) is not None}
        # Only hook_plugin_metrics carries keys of its plugin's choosing, after its own.
        for key, value in (plugin_metrics or {}).items():
            if (
                name != "hook_plugin_metrics"
                or key in ordered
                or not re.match(PLUGIN_METRIC_KEY_PATTERN, key)
            ):
                raise AssertionError(f"event {name} cannot carry the plugin metric {key!r}")
            ordered[key] = value
        limit = self.options.log_value_limit
        if limit is not None:
            # The SDK's attribute value limit: every longer string is cut there, as the JS SDK cuts it.
            ordered = {k: _cut(v, limit) for k, v in ordered.items()}
        hints = attrs(span_attributes) if span_attributes else ()
        self.emissions.append(_Emission(at, EVENT, name, None, ordered, self.prompt_id, hints))

    def _standard(self, event: bool) -> dict[str, AttrValue]:
        options, user, entry = self.options, self.entry.user, self.entry
        values: dict[str, AttrValue | None] = {
            "user.id": self.user_id,
            "session.id": self.session_id if event or options.include_session_id else None,
            "app.version": self.app_version if options.include_version else None,
            "app.entrypoint": entry.entrypoint if options.include_entrypoint else None,
            "organization.id": user.organization_id,
            "user.email": user.email,
            "user.account_uuid": user.account_uuid if event or options.include_account_uuid else None,
            "user.account_id": user.account_id if event or options.include_account_uuid else None,
            "anthropic.provider": entry.provider,
            "anthropic.custom_base_url": entry.custom_base_url,
            "terminal.type": entry.terminal_type,
        }
        out: dict[str, AttrValue] = {}
        # Resource pairs on points arrived with events; the 2025-05 page (no events) has neither. They come
        # first, as on the resource; a built-in key keeps the pair's position but its own value.
        if self.profile.emits_events and (event or options.include_resource_attributes):
            out.update(options.resource_attributes)
        out.update(
            {a.key: values[a.key] for a in self.profile.standard_attributes if values.get(a.key) is not None}
        )
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
                "service.version": self.app_version,
            }
        )
        return resource

    # -- the session -----------------------------------------------------------------------------

    def run(self) -> tuple[SessionInfo, list[Record]]:
        self._startup()
        self.turn_ends = turn_final_requests(step.kind for step in self.entry.steps)
        for j, step in enumerate(self.entry.steps):
            self.step_index = j
            self.step_path = f"sessions[{self.entry_index}].steps[{j}].{step.kind}"
            before, after = step_timing(step)
            STEP_HANDLERS[step.kind](self, step.body, before, after)
        end = self.cursor + SESSION_END_GAP
        # Drawn from the catalogue stream, after every other id: the session's ids stay what they were.
        earliest, latest = RETENTION_SWEEP_AFTER
        sweep = self.start + self.more_rng.randint(earliest // MS, latest // MS) * MS
        if sweep <= end:
            self._retention_sweep(sweep)
        info = SessionInfo(
            index=self.index,
            session_id=self.session_id,
            app_version=self.app_version,
            resource=attrs(self._resource()),
            start_at=self.start / S,
            end_at=end / S,
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
            records.append(
                Record(
                    e.at / S,
                    self.index,
                    e.signal,
                    e.name,
                    e.value,
                    attrs(attributes),
                    span_attributes=e.span_attributes,
                )
            )
        return records

    def _startup(self) -> None:
        start = self.start
        plugins = session_plugins(self.entry)
        if self.profile.startup_events:
            self.event(
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
                self.event(
                    start + PLUGINS_AFTER + j * PLUGIN_GAP, "plugin_loaded", plugin_loaded(self, plugin)
                )
        for j, hook in enumerate(self.entry.hooks, start=len(plugins)):
            self.event(start + PLUGINS_AFTER + j * PLUGIN_GAP, "hook_registered", hook_registered(self, hook))
        count = startup_count(self.entry)
        self.metric(
            start + session_count_offset(count),
            SESSION_COUNT,
            1,
            {"start_type": self.entry.start_type},
        )
        self.cursor = start + first_step_offset(count)

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
        self.event(at, "retention_sweep", values)
        if len(self.emissions) > before:
            self.emissions.insert(position, self.emissions.pop())

    # -- what steps share ------------------------------------------------------------------------

    def fail(self, message: str) -> ScenarioError:
        return ScenarioError(f"{self.step_path}: {message}", path=self.context.scenario.name)

    @property
    def raw_api_bodies(self) -> str | None:
        """OTEL_LOG_RAW_API_BODIES for this process: the session's own, else the environment's."""
        own = self.entry.log_raw_api_bodies
        return own if own is not None else self.options.log_raw_api_bodies

    def content(self, text: str) -> tuple[str, bool]:
        """A content-bearing event attribute as the client sends it: cut at the content limit."""
        return truncate_content(text, self.options.event_content_limit)

    def response_length(self, request: ApiRequest) -> int:
        """The length of the current api_request step's text, 0 for a response that only calls tools."""
        return request.response_length_at(turn_end=self.step_index in self.turn_ends)

    def may_name(self, official: bool) -> bool:
        """Anthropic's plugins, skills and agents are always named; others only with tool details."""
        return official or self.options.log_tool_details

    def attribution(self, step: ApiRequest | ApiError | ApiRefusal) -> dict[str, AttrValue | None]:
        # What the step says wins; else the skill active since the last prompt.
        return {
            key: getattr(step, field) if getattr(step, field) is not None else self.skill_attribution.get(key)
            for key, field in ATTRIBUTION_FIELDS
        }


def _cut(value: AttrValue, limit: int) -> AttrValue:
    if isinstance(value, str):
        return cut_to(value, limit) if utf16_length(value) > limit else value
    if isinstance(value, tuple):
        return tuple(_cut(v, limit) for v in value)
    return value
