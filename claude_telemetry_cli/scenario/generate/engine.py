"""Generate an organisation's scenario file, one developer-day at a time, written as YAML text as it goes.

Nothing of the whole file is ever held: a developer-day's sessions are rendered into a few kilobytes of
text, written, and forgotten; only the population (one small record per developer) and the statistics
(one number per developer and per active developer-day) stay in memory.

Every draw comes from a `random.Random` seeded from (seed, developer, day) and every fake value from a
`Faker` seeded with the seed, so the same parameters give the same bytes, and a developer's day does not
change when another developer's does.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
import re
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from math import exp as _exp
from typing import TextIO

from claude_telemetry_cli.contract import MODEL_PRICES, price_request
from claude_telemetry_cli.scenario.generate.params import GenerateParams, scenario_origin, time_zone_offset
from claude_telemetry_cli.scenario.generate.report import Stats
from claude_telemetry_cli.wording import counted

__all__ = ["generate", "generate_text", "incident_window", "iter_chunks", "scenario_origin"]

_DAY_S = 86_400
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
# Seeds of the independent random streams; a new stream gets a new number, so old ones never shift.
_STREAM_ORG, _STREAM_TEAM, _STREAM_DEVELOPER, _STREAM_DAY = 1, 2, 3, 4

# Claude Code reports effort only for models that have it.
_EFFORT_MODELS = frozenset({"claude-opus-4-5"})
# (median time to first token in ms, output tokens per second): what makes duration_ms plausible.
_SPEED = {"opus": (2200, 45.0), "sonnet": (1500, 65.0), "haiku": (600, 140.0)}
# What compiling adds around steps (permission check gaps, default tool durations: compile/timing.py), so
# the generator's clock, used for the incident window and the per-hour statistics, agrees with the replay's.
_FIRST_STEP_MS = 100
_EDIT_GAP_MS, _EDIT_MS, _TOOL_GAP_MS = 15, 10, 5
_COMMIT_MS, _PR_MS = 70, 1800
# The prompt cache lives five minutes: a longer pause means the next request writes it again.
_CACHE_TTL_MS = 300_000
# Per tool: (median duration ms, lognormal sigma, share of a median tool result it adds to the context).
_TOOL_PROFILE = {
    "Read": (45, 0.8, 1.6),
    "Bash": (2200, 1.4, 0.9),
    "Grep": (160, 0.8, 0.6),
    "Glob": (60, 0.6, 0.3),
    "WebFetch": (2600, 0.9, 3.0),
    "WebSearch": (4200, 0.6, 2.0),
    "TodoWrite": (12, 0.4, 0.15),
    "Task": (50, 0.3, 0.0),
}
_MCP_PROFILE = (900, 1.0, 1.2)
_OTHER_PROFILE = (300, 1.0, 0.8)
_EDIT_TOOLS = frozenset({"Edit", "Write", "NotebookEdit"})
# Subagents explore: they read and search, they do not edit.
_SUBAGENT_TOOLS = (("Read", 0.5), ("Grep", 0.3), ("Glob", 0.12), ("Bash", 0.08))
_AGENTS = (("Explore", 0.55), ("general-purpose", 0.35), ("Plan", 0.1))
_SUBAGENT_REQUESTS = 6.0
# Per error: (median duration of the last attempt in ms, its sigma).
_ERROR_PROFILE = {"429": (250, 0.5), "500": (1800, 0.6), "529": (900, 0.5), "connection": (9000, 0.5)}
_OS = {
    "darwin": (("24.6.0", 0.5), ("25.1.0", 0.35), ("23.6.0", 0.15)),
    "linux": (("6.8.0-64-generic", 0.4), ("6.14.0-33-generic", 0.3), ("6.1.0-40-amd64", 0.3)),
    "windows": (("10.0.26100", 0.7), ("10.0.22631", 0.3)),
}
_ARCH = {"darwin": (("arm64", 0.92), ("x64", 0.08)), "linux": (("x64", 0.85), ("arm64", 0.15))}
_IDE_TERMINALS = frozenset({"vscode", "cursor", "windsurf"})
_TEAM_WORDS = (
    "platform",
    "payments",
    "mobile",
    "data",
    "infra",
    "web",
    "search",
    "growth",
    "identity",
    "billing",
    "ml",
    "security",
    "checkout",
    "api",
    "devex",
    "reliability",
)
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+/-]*$")


class _Picker:
    """A weighted choice by bisection of the cumulative weights: one random() per draw."""

    __slots__ = ("keys", "cum", "total", "last")

    def __init__(self, pairs) -> None:
        pairs = [(k, w) for k, w in pairs if w > 0]
        self.keys = [k for k, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))
        self.total = self.cum[-1] if self.cum else 0.0
        self.last = len(self.keys) - 1

    def pick(self, rng: random.Random):
        return self.keys[min(bisect.bisect_right(self.cum, rng.random() * self.total), self.last)]


def _scalar(value: str) -> str:
    """A string as YAML reads it back as the same string: plain when safe, JSON-quoted otherwise."""
    import yaml

    if _PLAIN.match(value) and isinstance(yaml.safe_load(value), str):
        return value
    return json.dumps(value)


def _num(value: float) -> str:
    """repr() round-trips exactly; YAML 1.1 wants a dot in the mantissa of 1e-05."""
    text = repr(float(value))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def _normal_table(bits: int) -> tuple[float, ...]:
    from statistics import NormalDist

    n = 1 << bits
    unit = NormalDist()
    return tuple(unit.inv_cdf((i + 0.5) / n) for i in range(n))


# Standard normal deviates by inverse CDF of 16 random bits: five times faster than random.gauss, and
# the tails still reach 4.4 sigma (a lognormal of sigma 1 reaches 80 times its median).
_Z_BITS = 16
_Z: tuple[float, ...] = ()


def _gauss(rng: random.Random) -> float:
    return _Z[rng.getrandbits(_Z_BITS)]


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(sigma * _Z[rng.getrandbits(_Z_BITS)])


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(mean + math.sqrt(mean) * _gauss(rng)))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _geometric(rng: random.Random, mean: float) -> int:
    """Failures before a success, with the given mean: an exponential tail."""
    if mean <= 0:
        return 0
    p = 1.0 / (1.0 + mean)
    return int(math.log(1.0 - rng.random()) / math.log(1.0 - p))


def _rng(seed: int, stream: int, a: int, b: int = 0) -> random.Random:
    return random.Random(((seed * 8 + stream) << 56) + (a << 24) + b)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _base62(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_BASE62) for _ in range(length))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _clock(ms: int) -> str:
    hours, rest = divmod(ms // 60_000, 60)
    return f"{hours:02d}:{rest:02d}"


@dataclass(slots=True)
class _Developer:
    index: int
    handle: str
    header: str  # the session fields that never change for this developer, rendered once
    offset_s: int
    day_start_s: int
    model: str
    intensity: float
    activity: float
    languages: _Picker


def incident_window(params: GenerateParams) -> tuple[float, float] | None:
    """The error burst as (start, end) seconds of scenario time, or None."""
    if params.incident_day is None:
        return None
    start = scenario_origin(params) + params.incident_day * _DAY_S + params.incident_start_hour * 3600
    return start, start + params.incident_hours * 3600


class _Generator:
    def __init__(self, params: GenerateParams, stats: Stats) -> None:
        global _Z
        if not _Z:
            # Built on first use (a tenth of a second), so importing this module stays cheap.
            _Z = _normal_table(_Z_BITS)
        self.p = params
        self.stats = stats
        self.origin_s = scenario_origin(params)
        self.model_mix = _Picker(params.model_mix)
        self.effort = _Picker(params.effort_mix)
        self.subagent_models = _Picker(params.subagent_model_mix)
        self.agents = _Picker(_AGENTS)
        self.subagent_tools = _Picker(_SUBAGENT_TOOLS)
        self.tools = _Picker(params.tool_mix)
        self.decisions = _Picker(params.edit_decisions)
        self.start_types = _Picker(params.start_types)
        self.errors = _Picker(params.error_rates)
        self.error_rate = sum(w for _, w in params.error_rates)
        self.incident_errors = _Picker(params.incident_error_rates)
        self.incident_rate = sum(w for _, w in params.incident_error_rates)
        window = incident_window(params)
        self.incident_start, self.incident_end = (
            (round(window[0] * 1000), round(window[1] * 1000)) if window else (-1, -1)
        )
        # Main requests drive everything: per main request, this many subagent bursts and auxiliary
        # requests make the shares come out as asked.
        main_share = 1.0 - params.subagent_share - params.auxiliary_share
        # A subagent is launched between two requests of a prompt's loop, never after the last one.
        between = (params.requests_per_prompt - 1.0) / params.requests_per_prompt
        per_gap = params.subagent_share / main_share / _SUBAGENT_REQUESTS
        self.task_chance = per_gap / between if between else 0.0
        self.aux_chance = params.auxiliary_share / main_share
        self.prices = {name: MODEL_PRICES[name] for name in MODEL_PRICES}
        self.text = {name: _scalar(name) for name, _ in params.tool_mix}
        self.text.update({name: _scalar(name) for name, _ in params.languages})
        self.text.update({name: _scalar(name) for name in MODEL_PRICES})
        self.speed = {name: _model_speed(name) for name in MODEL_PRICES}
        self.developers: list[_Developer] = []

    # -- the population --------------------------------------------------------------------------

    def build_population(self) -> None:
        from faker import Faker

        p = self.p
        fake = Faker("en_US")
        fake.seed_instance(p.seed)
        orgs = []
        for o in range(p.orgs):
            rng = _rng(p.seed, _STREAM_ORG, o)
            company = fake.company()
            orgs.append((_uuid(rng), f"{_slug(company)[:40]}.example.com", _slug(company.split()[0])[:20]))
        zones = _Picker(p.time_zones)
        base_languages = dict(p.languages)
        teams = []
        for t in range(p.teams):
            rng = _rng(p.seed, _STREAM_TEAM, t)
            word = _TEAM_WORDS[t % len(_TEAM_WORDS)]
            name = word if t < len(_TEAM_WORDS) else f"{word}-{t // len(_TEAM_WORDS) + 1}"
            # A team works mostly in one language and one time zone, as real teams do.
            primary = _Picker(p.languages).pick(rng)
            weights = {k: w * (5.0 if k == primary else 1.0) for k, w in base_languages.items()}
            teams.append((name, zones.pick(rng), _Picker(sorted(weights.items()))))
        terminals = _Picker(p.terminal_types)
        versions = _Picker(p.client_versions)
        systems = _Picker(p.os_types)
        modes = _Picker(p.permission_modes)
        taken: set[str] = set()
        for i in range(p.developers):
            rng = _rng(p.seed, _STREAM_DEVELOPER, i)
            team = i * p.teams // p.developers
            org_id, domain, org_name = orgs[team * p.orgs // p.teams]
            team_name, team_zone, languages = teams[team]
            first, last = _slug(fake.first_name()), _slug(fake.last_name())
            handle = f"{first}.{last}"
            n = 1
            while handle in taken:
                n += 1
                handle = f"{first}.{last}{n}"
            taken.add(handle)
            zone = team_zone if rng.random() < 0.85 else zones.pick(rng)
            os_type = systems.pick(rng)
            terminal = terminals.pick(rng)
            if os_type == "windows" and terminal in ("iTerm.app", "Apple_Terminal", "ghostty"):
                terminal = "windows-terminal"
            fields = [
                f"  user: {{email: {handle}@{domain}, organization_id: {org_id}, "
                f"account_uuid: {_uuid(rng)}, account_id: user_01{_base62(rng, 22)}}}",
                f"  app_version: {versions.pick(rng)}",
                f"  terminal_type: {_scalar(terminal)}",
            ]
            if terminal in _IDE_TERMINALS:
                fields.append("  entrypoint: claude-vscode")
            fields.append(f"  os_type: {os_type}")
            fields.append(f"  os_version: {_Picker(_OS[os_type]).pick(rng)}")
            fields.append(f"  host_arch: {_Picker(_ARCH.get(os_type, (('x64', 1.0),))).pick(rng)}")
            mode = modes.pick(rng)
            if mode != "default":
                fields.append(f"  permission_mode: {mode}")
            sigma = p.developer_sigma
            activity = p.active_day_rate
            if 0.0 < activity < 1.0:
                # Some people use it every day, some once a week: a beta around the mean rate.
                activity = rng.betavariate(activity * 6.0, (1.0 - activity) * 6.0)
            self.developers.append(
                _Developer(
                    index=i,
                    handle=f"{org_name}/{team_name}/{handle}",
                    header="\n".join(fields) + "\n",
                    offset_s=time_zone_offset(zone),
                    # Habits: some start at 8, some at 10.
                    day_start_s=int(p.work_start_hour * 3600 + rng.uniform(-3600, 3600)),
                    model=self.model_mix.pick(rng),
                    intensity=math.exp(sigma * _gauss(rng) - sigma * sigma / 2),
                    activity=activity,
                    languages=languages,
                )
            )

    # -- one developer-day -----------------------------------------------------------------------

    def developer_day(self, dev: _Developer, day: int) -> str:
        p = self.p
        rng = _rng(p.seed, _STREAM_DAY, dev.index, day)
        weekday = (p.start_weekday + day) % 7
        if rng.random() >= (dev.activity if weekday < 5 else p.weekend_activity):
            return ""
        sigma = p.day_sigma
        intensity = dev.intensity * math.exp(sigma * _gauss(rng) - sigma * sigma / 2)
        sessions = 1 + _poisson(rng, p.sessions_per_day - 1.0)
        window_ms = int(p.work_hours * 3_600_000)
        local_midnight_ms = (self.origin_s + day * _DAY_S - dev.offset_s) * 1000
        starts = sorted(rng.randrange(window_ms) for _ in range(sessions))
        ssigma = p.session_sigma
        prompts = []
        for _ in range(sessions):
            mean = p.prompts_per_session * intensity
            drawn = mean * math.exp(ssigma * _gauss(rng) - ssigma * ssigma / 2)
            prompts.append(max(1, int(drawn + rng.random())))
        # Commits and pull requests land after random prompts of the day.
        turns = sum(prompts)
        commits = [0] * turns
        for _ in range(_poisson(rng, p.commits_per_day)):
            commits[rng.randrange(turns)] += 1
        pulls = [0] * turns
        for _ in range(_poisson(rng, p.pull_requests_per_day)):
            pulls[rng.randrange(turns)] += 1
        out: list[str] = []
        cost = 0.0
        first_turn = 0
        for s in range(sessions):
            start_ms = local_midnight_ms + dev.day_start_s * 1000 + starts[s]
            n = prompts[s]
            cost += self._session(
                rng,
                out,
                dev,
                day,
                s,
                start_ms,
                n,
                commits[first_turn : first_turn + n],
                pulls[first_turn : first_turn + n],
            )
            first_turn += n
        self.stats.add_developer_day(dev.index, cost)
        return "".join(out)

    def _session(self, rng, out, dev, day, index, start_ms, prompts, commits, pulls) -> float:
        p = self.p
        stats = self.stats
        model = dev.model if rng.random() < p.model_loyalty else self.model_mix.pick(rng)
        effort = self.effort.pick(rng) if model in _EFFORT_MODELS else "none"
        start_type = "fresh" if index == 0 else self.start_types.pick(rng)
        local_ms = (start_ms - (self.origin_s - dev.offset_s) * 1000) % (_DAY_S * 1000)
        out.append(f"- label: {dev.handle} day {day} {_clock(local_ms)}\n{dev.header}")
        out.append(f"  model: {self.text[model]}\n")
        if start_type != "fresh":
            out.append(f"  start_type: {start_type}\n")
        out.append(f"  start_at: {start_ms // 1000}.{start_ms % 1000:03d}\n  steps:\n")
        effort_text = "" if effort == "none" else f", effort: {effort}"
        session = _Session(self, rng, out, model, effort_text, dev.languages, start_ms + _FIRST_STEP_MS)
        if start_type == "fresh":
            session.pending = int(_lognormal(rng, p.context_tokens, 0.25))
            session.needs_title = p.auxiliary_share > 0
        else:
            # A resumed conversation sends its whole history again: one large cache write.
            session.pending = int(_lognormal(rng, p.context_tokens, 0.25) + _lognormal(rng, 30_000, 0.8))
        for turn in range(prompts):
            session.turn(last=turn == prompts - 1, commits=commits[turn], pulls=pulls[turn])
        stats.sessions += 1
        return session.cost


def _model_speed(name: str) -> tuple[int, float]:
    for family, speed in _SPEED.items():
        if family in name:
            return speed
    return _SPEED["sonnet"]


class _Session:
    """The conversation state of one session: its prompt cache, its clock, what it has cost so far."""

    __slots__ = (
        "g",
        "rng",
        "out",
        "model",
        "effort",
        "languages",
        "clock",
        "cached",
        "pending",
        "cost",
        "last_request",
        "needs_title",
        "aux_owed",
    )

    def __init__(self, g: _Generator, rng, out, model: str, effort: str, languages, clock_ms: int) -> None:
        self.g = g
        self.languages = languages
        self.rng = rng
        self.out = out
        self.model = model
        self.effort = effort
        self.clock = clock_ms
        self.cached = 0
        self.pending = 0
        self.cost = 0.0
        self.last_request = clock_ms
        self.needs_title = False
        self.aux_owed = 0

    def turn(self, *, last: bool, commits: int, pulls: int) -> None:
        g, rng, out, p = self.g, self.rng, self.out, self.g.p
        length = max(1, int(_lognormal(rng, 110, 1.0)))
        out.append(f"  - prompt: {{length: {length}}}\n")
        self.pending += length // 4 + 20
        if self.needs_title:
            # A fresh session's first prompt gets a title from the small model.
            self.needs_title = False
            self.auxiliary("generate_session_title")
            self.aux_owed += 1
        started = self.clock
        loop = 1 + _geometric(rng, p.requests_per_prompt - 1.0)
        for j in range(loop):
            if rng.random() < g.aux_chance:
                if self.aux_owed:
                    # Titles and compactions are auxiliary requests too: they count towards the share.
                    self.aux_owed -= 1
                else:
                    self.auxiliary(None)
            final = j == loop - 1
            self.main_request(final or rng.random() < 0.3)
            if not final:
                if rng.random() < g.task_chance:
                    self.subagent()
                else:
                    self.tool(g.tools.pick(rng))
            if self.cached + self.pending > p.compact_threshold:
                self.compact()
        user_s = round(_lognormal(rng, 35.0, 0.9), 1)
        cli_s = (self.clock - started) / 1000
        out.append(f"  - active: {{user: {user_s}, cli: {cli_s}}}\n")
        for _ in range(commits):
            out.append("  - commit: {}\n")
            self.clock += _TOOL_GAP_MS + _COMMIT_MS
            g.stats.commits += 1
        for _ in range(pulls):
            out.append("  - pull_request: {}\n")
            self.clock += _TOOL_GAP_MS + _PR_MS
            g.stats.pull_requests += 1
        if not last:
            think_s = min(3600, max(2, round(_lognormal(rng, 50.0, 1.1))))
            out.append(f"  - wait: {think_s}\n")
            self.clock += think_s * 1000

    # -- requests ----------------------------------------------------------------------------------

    def _error(self, in_incident: bool, model: str | None, query_source: str) -> None:
        """An API error before a request: its attempts, and the time they and the backoff took."""
        g, rng = self.g, self.rng
        kind = (g.incident_errors if in_incident else g.errors).pick(rng)
        attempts = 1
        while attempts < g.p.max_attempts and rng.random() < g.p.retry_rate:
            attempts += 1
        median, sigma = _ERROR_PROFILE.get(kind, (1200, 0.6))
        duration = max(1, int(_lognormal(rng, median, sigma)))
        status = "" if kind == "connection" else f"status_code: {kind}, "
        extra = f", model: {g.text[model]}" if model else ""
        self.out.append(f"  - api_error: {{{status}attempt: {attempts}, duration_ms: {duration}{extra}}}\n")
        # As compiling times it: every attempt plus Claude Code's backoff (500 ms doubling, capped at 32 s).
        backoff = sum(min(500 * 2 ** (i - 1), 32_000) for i in range(1, attempts))
        self.clock += duration * attempts + backoff
        g.stats.add_error(kind, self.clock, query_source)

    def _request(
        self, model, cache_read, cache_creation, output, query_source, fields: str, text: int, input_tokens=0
    ) -> None:
        # The hot path: a few million calls for a month of a thousand developers, hence the locals.
        g, rng = self.g, self.rng
        clock = self.clock
        in_incident = g.incident_start <= clock < g.incident_end
        if rng.random() < (g.incident_rate if in_incident else g.error_rate):
            self._error(in_incident, None if model == self.model else model, query_source)
        if not input_tokens:
            # What is left uncached in an agentic request: a handful of tokens.
            input_tokens = 1 + int(6 * _exp(1.2 * _Z[rng.getrandbits(_Z_BITS)]))
        cost = price_request(g.prices[model], input_tokens, output, cache_read, cache_creation)
        ttft, tps = g.speed[model]
        duration = int(ttft * _exp(0.45 * _Z[rng.getrandbits(_Z_BITS)]) + output * 1000 / tps)
        if text:
            fields += f", response_length: {text}"
        self.out.append(
            f"  - api_request: {{input_tokens: {input_tokens}, output_tokens: {output}, "
            f"cache_read_tokens: {cache_read}, cache_creation_tokens: {cache_creation}, "
            f"duration_ms: {duration}, cost_usd: {_num(cost)}{fields}}}\n"
        )
        self.clock = clock = self.clock + duration
        self.cost += cost
        stats = g.stats
        stats.requests[query_source] += 1
        tokens = stats.tokens
        tokens["input"] += input_tokens
        tokens["output"] += output
        tokens["cacheRead"] += cache_read
        tokens["cacheCreation"] += cache_creation
        stats.count_hour(clock)

    def _cache(self) -> tuple[int, int]:
        """(cache read, cache write) of the next main-thread request, and the prompt cache after it."""
        if self.clock - self.last_request > _CACHE_TTL_MS:
            # The cache expired while the developer was away: everything is written again.
            self.pending += self.cached
            self.cached = 0
        read, write = self.cached, self.pending
        self.cached += self.pending
        self.pending = 0
        return read, write

    def main_request(self, with_text: bool) -> None:
        rng = self.rng
        read, write = self._cache()
        output = max(1, int(_lognormal(rng, self.g.p.output_tokens, 0.9)))
        text = max(1, int(_lognormal(rng, 500, 0.9))) if with_text else 0
        self._request(self.model, read, write, output, "main", self.effort, text)
        self.last_request = self.clock
        # The model's own message is part of the next request's context.
        self.pending += output

    def auxiliary(self, subsystem: str | None) -> None:
        g, rng = self.g, self.rng
        model = g.p.auxiliary_model
        # Small, uncached classification and title requests.
        input_tokens = 1 + int(_lognormal(rng, 600, 0.7))
        output = max(1, int(_lognormal(rng, 30, 0.6)))
        fields = f", model: {g.text[model]}, query_source: auxiliary"
        if subsystem:
            fields += f", event_query_source: {subsystem}"
        self._request(model, 0, 0, output, "auxiliary", fields, 0, input_tokens)

    def compact(self) -> None:
        rng = self.rng
        self.aux_owed += 1
        read, write = self._cache()
        summary = max(200, int(_lognormal(rng, 2500, 0.5)))
        self._request(
            self.model,
            read,
            write,
            summary,
            "auxiliary",
            ", query_source: auxiliary, event_query_source: compact",
            0,
        )
        self.cached = 0
        self.pending = int(_lognormal(rng, self.g.p.context_tokens, 0.25)) + summary
        self.last_request = self.clock

    def subagent(self) -> None:
        g, rng, p = self.g, self.rng, self.g.p
        model = g.subagent_models.pick(rng)
        agent = g.agents.pick(rng)
        fields = f", model: {g.text[model]}, query_source: subagent, "
        fields += f"event_query_source: {agent}, agent_name: {agent}"
        cached, pending = 0, int(_lognormal(rng, 9000, 0.3))
        count = 1 + _geometric(rng, _SUBAGENT_REQUESTS - 1.0)
        for k in range(count):
            output = max(1, int(_lognormal(rng, p.output_tokens * 0.6, 0.8)))
            last = k == count - 1
            text = max(1, int(_lognormal(rng, 900, 0.6))) if last else 0
            self._request(model, cached, pending, output, "subagent", fields, text)
            cached += pending
            pending = output
            if not last:
                tool = g.subagent_tools.pick(rng)
                pending += self._tool_step(tool, subagent=True)
        # The Task tool returns the subagent's report to the main thread.
        self.pending += int(_lognormal(rng, 1500, 0.6))
        self._tool_step("Task", subagent=False)

    # -- tools -------------------------------------------------------------------------------------

    def tool(self, name: str) -> None:
        if name in _EDIT_TOOLS:
            self.pending += self._edit(name)
        else:
            self.pending += self._tool_step(name, subagent=False)

    def _tool_step(self, name: str, *, subagent: bool) -> int:
        """Write one tool call; the tokens its result adds to the context."""
        g, rng, p = self.g, self.rng, self.g.p
        stats = g.stats
        if name.startswith("mcp__"):
            median, sigma, share = _MCP_PROFILE
            source = ", tool_source: mcp"
        else:
            median, sigma, share = _TOOL_PROFILE.get(name, _OTHER_PROFILE)
            source = ""
        label = g.text.get(name) or _scalar(name)
        if not subagent and rng.random() < p.tool_reject_rate:
            self.out.append(f"  - tool: {{name: {label}, decision: reject, source: user_reject{source}}}\n")
            self.clock += _TOOL_GAP_MS
            stats.tool_calls += 1
            stats.tool_rejects += 1
            return 40
        duration = max(1, int(_lognormal(rng, median, sigma)))
        failed = rng.random() < p.tool_failure_rate and name not in ("TodoWrite", "Task")
        outcome = ", success: false" if failed else ""
        self.out.append(f"  - tool: {{name: {label}, duration_ms: {duration}{outcome}{source}}}\n")
        self.clock += _TOOL_GAP_MS + duration
        stats.tool_calls += 1
        stats.tool_failures += failed
        return int(_lognormal(rng, p.tool_result_tokens * share, 1.1)) if share else 0

    def _edit(self, tool: str) -> int:
        g, rng = self.g, self.rng
        stats = g.stats
        language = "Python" if tool == "NotebookEdit" else g.text[self.languages.pick(rng)]
        if tool == "Write":
            added, removed = max(1, int(_lognormal(rng, 55, 1.0))), 0
        else:
            added = int(_lognormal(rng, 7, 1.1))
            removed = int(added * rng.uniform(0.0, 1.2))
        decision, source = g.decisions.pick(rng).split("/")
        extra = ""
        if decision == "reject":
            extra = (
                f", decision: reject, source: {source}" if source != "user_reject" else ", decision: reject"
            )
            stats.edits_rejected += 1
            self.clock += _EDIT_GAP_MS
        else:
            if source != "config":
                extra = f", source: {source}"
            stats.edits_accepted += 1
            stats.lines_added += added
            stats.lines_removed += removed
            self.clock += _EDIT_GAP_MS + _EDIT_MS
        self.out.append(
            f"  - edit: {{tool: {tool}, language: {language}, lines_added: {added}, "
            f"lines_removed: {removed}{extra}}}\n"
        )
        return 60 + added * 12


def iter_chunks(params: GenerateParams, stats: Stats, progress=None) -> Iterator[str]:
    """The scenario file as text, one developer-day at a time; `stats` fills in as it goes.

    `progress(done_days, days)` is called after each day, for a progress bar.
    """
    g = _Generator(params, stats)
    g.build_population()
    preamble = _preamble(params)
    stats.bytes += len(preamble)
    yield preamble
    for day in range(params.days):
        for dev in g.developers:
            chunk = g.developer_day(dev, day)
            if chunk:
                # Every chunk is ASCII: characters are bytes.
                stats.bytes += len(chunk)
                yield chunk
        if progress is not None:
            progress(day + 1, params.days)
    if stats.sessions == 0:
        # Nobody worked in the period (a weekend, say); a scenario needs one session to be valid.
        chunk = _idle_session(g)
        stats.bytes += len(chunk)
        yield chunk


def _idle_session(g: _Generator) -> str:
    dev = g.developers[0]
    g.stats.sessions += 1
    return f"- label: {dev.handle} (no activity in the period)\n{dev.header}  steps: []\n"


def _preamble(params: GenerateParams) -> str:
    lines = [
        "# Generated by `claude-telemetry generate`: a synthetic organisation, calibrated to Anthropic's",
        "# published Claude Code usage figures. The same parameters give this same file, byte for byte.",
        "# Parameters:",
    ]
    for key, value in params.to_json().items():
        lines.append(f"#   {key}: {json.dumps(value)}")
    lines += [
        "version: 1",
        f"name: {json.dumps(params.name)}",
        f"description: {json.dumps(params.description or _describe(params))}",
        f"seed: {params.seed}",
        "sessions:",
    ]
    return "\n".join(lines) + "\n"


def _describe(params: GenerateParams) -> str:
    return (
        f"{counted(params.developers, 'developer')} in {counted(params.teams, 'team')} and"
        f" {counted(params.orgs, 'organisation')} over {counted(params.days, 'day')},"
        f" generated with seed {params.seed}"
    )


def generate(params: GenerateParams, out: TextIO, progress=None) -> Stats:
    """Write the scenario to `out` as it is generated; the statistics of what was written."""
    stats = Stats(params)
    for chunk in iter_chunks(params, stats, progress):
        out.write(chunk)
    stats.finish()
    return stats


def generate_text(params: GenerateParams) -> tuple[str, Stats]:
    """The whole scenario as one string: for small populations and tests."""
    import io

    buffer = io.StringIO()
    stats = generate(params, buffer)
    return buffer.getvalue(), stats
