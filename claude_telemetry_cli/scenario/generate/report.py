"""The generated population's statistics, accumulated as it goes, next to Anthropic's published figures."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_telemetry_cli.scenario.generate.params import GenerateParams

__all__ = ["COST_SOURCE", "COST_TARGETS", "RATE_LIMIT_GUIDANCE", "RATE_SOURCE", "Stats"]

# The published figures the `enterprise` preset is calibrated to, and where they come from.
COST_SOURCE = (
    "Anthropic, Claude Code docs, 'Manage costs effectively' (https://code.claude.com/docs/en/costs): "
    "across enterprise deployments the average cost is around $13 per developer per active day and "
    "$150-250 per developer per month, with costs below $30 per active day for 90% of users"
)
RATE_SOURCE = (
    "Anthropic, Claude Code docs, 'Manage costs effectively', rate limit recommendations: tokens and "
    "requests per minute per user by team size; the limits apply to the whole organisation, so the "
    "per-user share falls as fewer of a large organisation's users work at the same time"
)


@dataclass(frozen=True)
class Target:
    key: str
    figure: str
    published: str
    low: float | None
    high: float | None

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


# "About $13": the check accepts 15% either side.
COST_TARGETS = (
    Target("mean_cost_per_active_day", "mean cost per developer per active day", "≈ $13", 11.05, 14.95),
    Target("p90_cost_per_active_day", "p90 cost per developer per active day", "< $30", None, 30.0),
    Target("cost_per_developer_month", "cost per developer per month", "$150-250", 150.0, 250.0),
)
# (smallest team size of the row, TPM per user, RPM per user), the documentation's table.
RATE_LIMIT_GUIDANCE = (
    (500, "500+", (10_000, 15_000), (0.25, 0.35)),
    (100, "100-500", (15_000, 20_000), (0.37, 0.47)),
    (50, "50-100", (25_000, 35_000), (0.62, 0.87)),
    (20, "20-50", (50_000, 75_000), (1.25, 1.75)),
    (5, "5-20", (100_000, 150_000), (2.5, 3.5)),
    (1, "1-5", (200_000, 300_000), (5.0, 7.0)),
)
# 365.25 days * 5/7 working days / 12 months: the working days of an average month.
WORKING_DAYS_PER_MONTH = 365.25 * 5 / 7 / 12
_HOUR_MS = 3_600_000


def guidance_row(users: int) -> tuple[str, tuple[int, int], tuple[float, float]]:
    for smallest, label, tpm, rpm in RATE_LIMIT_GUIDANCE:
        if users >= smallest:
            return label, tpm, rpm
    return RATE_LIMIT_GUIDANCE[-1][1:]


class Stats:
    """Everything --report needs, accumulated request by request: a few numbers per developer and per
    active developer-day, never the sessions themselves."""

    def __init__(self, params: GenerateParams) -> None:
        self.params = params
        self.sessions = 0
        self.requests = {"main": 0, "subagent": 0, "auxiliary": 0}
        self.tokens = {"input": 0, "output": 0, "cacheRead": 0, "cacheCreation": 0}
        self.cost = 0.0
        self.errors: dict[str, int] = {}
        self.commits = 0
        self.pull_requests = 0
        self.tool_calls = 0
        self.tool_failures = 0
        self.tool_rejects = 0
        self.edits_accepted = 0
        self.edits_rejected = 0
        self.lines_added = 0
        self.lines_removed = 0
        self.bytes = 0
        self.day_costs = array("d")
        self.developer_costs = array("d", bytes(8 * params.developers))
        self.hour_requests = array("q", bytes(8 * 24 * (params.days + 2)))
        self.hour_errors = array("q", bytes(8 * 24 * (params.days + 2)))
        self._summary: dict[str, Any] | None = None

    # -- accumulation, called by the generator --------------------------------------------------

    def count_hour(self, at_ms: int) -> None:
        """One request finished at `at_ms` of scenario time (the generator counts its tokens itself)."""
        hour = at_ms // _HOUR_MS
        if hour >= len(self.hour_requests):
            self.hour_requests.extend(bytes(8 * (hour + 1 - len(self.hour_requests))))
        self.hour_requests[hour] += 1

    def add_error(self, kind: str, at_ms: int, query_source: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        hour = at_ms // _HOUR_MS
        if hour >= len(self.hour_errors):
            self.hour_errors.extend(bytes(8 * (hour + 1 - len(self.hour_errors))))
        self.hour_errors[hour] += 1

    def add_developer_day(self, developer: int, cost: float) -> None:
        self.day_costs.append(cost)
        self.developer_costs[developer] += cost
        self.cost += cost

    # -- the figures ------------------------------------------------------------------------------

    def finish(self) -> dict[str, Any]:
        p = self.params
        workdays = sum(1 for d in range(p.days) if (p.start_weekday + d) % 7 < 5)
        requests = sum(self.requests.values())
        tokens = sum(self.tokens.values())
        days = sorted(self.day_costs)
        developers = sorted(self.developer_costs)
        working_minutes = p.developers * workdays * p.work_hours * 60
        users = math.ceil(p.developers / p.orgs)
        row, tpm_range, rpm_range = guidance_row(users)
        input_side = self.tokens["input"] + self.tokens["cacheRead"] + self.tokens["cacheCreation"]
        month_scale = WORKING_DAYS_PER_MONTH / workdays if workdays else None
        self._summary = {
            "developers": p.developers,
            "teams": p.teams,
            "orgs": p.orgs,
            "days": p.days,
            "working_days": workdays,
            "sessions": self.sessions,
            "active_developer_days": len(days),
            "requests": dict(self.requests, total=requests),
            "tokens": dict(self.tokens, total=tokens),
            "cache_read_share_of_input": _ratio(self.tokens["cacheRead"], input_side),
            "cost_usd": round(self.cost, 6),
            "mean_cost_per_active_day": _ratio(sum(days), len(days)),
            "median_cost_per_active_day": _quantile(days, 0.5),
            "p90_cost_per_active_day": _quantile(days, 0.9),
            "max_cost_per_active_day": days[-1] if days else None,
            "cost_per_developer_month": (self.cost / p.developers * month_scale) if month_scale else None,
            "median_cost_per_developer_month": _scaled(_quantile(developers, 0.5), month_scale),
            "p90_cost_per_developer_month": _scaled(_quantile(developers, 0.9), month_scale),
            "max_cost_per_developer_month": _scaled(developers[-1] if developers else None, month_scale),
            "rpm_per_user": _ratio(requests, working_minutes),
            "tpm_per_user": _ratio(tokens, working_minutes),
            "tpm_per_user_without_cache_reads": _ratio(tokens - self.tokens["cacheRead"], working_minutes),
            "peak_hour_rpm_per_user": max(self.hour_requests, default=0) / 60 / p.developers,
            "guidance_row": row,
            "guidance_rpm": list(rpm_range),
            "guidance_tpm": list(tpm_range),
            "api_errors": dict(sorted(self.errors.items())),
            "error_rate": _ratio(sum(self.errors.values()), requests),
            "worst_error_hour": self._worst_error_hour(),
            "commits": self.commits,
            "pull_requests": self.pull_requests,
            "tool_calls": self.tool_calls,
            "tool_failures": self.tool_failures,
            "tool_rejects": self.tool_rejects,
            "edits_accepted": self.edits_accepted,
            "edits_rejected": self.edits_rejected,
            "lines_added": self.lines_added,
            "lines_removed": self.lines_removed,
            "bytes": self.bytes,
        }
        return self._summary

    def _worst_error_hour(self) -> dict[str, Any] | None:
        """The UTC hour with the most API errors: where an incident shows."""
        from claude_telemetry_cli.scenario.generate.params import scenario_origin

        if not any(self.hour_errors):
            return None
        worst = max(range(len(self.hour_errors)), key=lambda h: (self.hour_errors[h], -h))
        requests = self.hour_requests[worst] if worst < len(self.hour_requests) else 0
        utc = worst * 3600 - scenario_origin(self.params)
        return {
            "day": utc // 86_400,
            "utc_hour": utc % 86_400 // 3600,
            "errors": self.hour_errors[worst],
            "requests": requests,
            "error_rate": _ratio(self.hour_errors[worst], requests),
        }

    @property
    def summary(self) -> dict[str, Any]:
        return self._summary if self._summary is not None else self.finish()

    def targets(self) -> list[dict[str, Any]]:
        """Published figure vs generated, with whether it holds."""
        s = self.summary
        rows = []
        for t in COST_TARGETS:
            value = s[t.key]
            rows.append(_target_row(t, value, "$"))
        low, high = s["guidance_rpm"]
        figure = f"requests per minute per user, working hours ({s['guidance_row']} users)"
        if s["guidance_row"] == RATE_LIMIT_GUIDANCE[0][1]:
            rpm = Target("rpm_per_user", figure, f"{low:g}-{high:g}", low, high)
        else:
            # Below 500 users the guidance is an allocation with headroom for everyone working at once
            # (the smaller the team, the more likely); what a team actually averages stays under it.
            rpm = Target("rpm_per_user", figure, f"≤ {high:g} (limit)", None, high)
        rows.append(_target_row(rpm, s["rpm_per_user"], ""))
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "parameters": self.params.to_json(),
            "statistics": self.summary,
            "targets": self.targets(),
            "sources": [COST_SOURCE, RATE_SOURCE],
        }


def _target_row(target: Target, value: float | None, unit: str) -> dict[str, Any]:
    return {
        "figure": target.figure,
        "key": target.key,
        "published": target.published,
        "low": target.low,
        "high": target.high,
        "generated": None if value is None else round(value, 4),
        "ok": target.holds(value),
        "unit": unit,
    }


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _scaled(value: float | None, scale: float | None) -> float | None:
    return None if value is None or scale is None else value * scale


def _quantile(ordered, q: float) -> float | None:
    """Nearest-rank quantile of sorted values."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
