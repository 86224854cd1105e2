"""The totals of what a collector acknowledged: metric sums, event and span counts, and what the events and
spans carry (content.Content), as the receiver behind the collector will count them.

Content.add costs microseconds per attribute, too much per record at hundreds of thousands of records a
second. But the records load sends repeat: a fleet session's records are the rows of its template with
the session's own identity (session.id, user.id; a span's gen_ai.conversation.id is its session.id too),
and throughput mode sends the same pool of requests
round and round. So each row is prepared once as a Shape (its attribute pairs but the identity, and the
sum of their hashes), the rows of one request form a Batch shared by every request that sends them, and
acknowledging a request costs a count per batch, an identity tally per name, and one hash per record that
carries an identity (none in throughput mode). The Contents are made up when the totals are asked for:
each batch's records added once, as many times over as it was acknowledged. The resource a log record or
span was sent under is counted per record, as the receiver counts it (metric resources are not kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from claude_telemetry_cli.content import (
    AttributeTally,
    Content,
    content_of,
    pair_hash,
    pair_sum,
    record_hash,
    span_pairs,
)
from claude_telemetry_cli.records import Totals, TotalsBuilder

__all__ = ["AcknowledgedTotals", "Batch", "Carried", "Shape", "event_shape", "request_content", "span_shape"]

SESSION_ID, USER_ID, CONVERSATION_ID = "session.id", "user.id", "gen_ai.conversation.id"
_IDENTITY = (SESSION_ID, USER_ID, CONVERSATION_ID)
_MASK = (1 << 64) - 1

ContentKey = tuple[str, str]  # ("event" | "span", name), or ("resource", signal)
_RESOURCE_OF = {"event": ("resource", "logs"), "span": ("resource", "traces")}


@dataclass(frozen=True, slots=True)
class Shape:
    """One record as it goes on the wire, prepared once: its attribute pairs but the identity ones (which
    each session carries its own of), the sum of their hashes, and which identity attributes it has."""

    key: ContentKey
    pairs: tuple
    base: int
    has_session_id: bool
    has_user_id: bool
    has_conversation_id: bool = False


def _shape(key: ContentKey, attributes: Iterable[tuple[str, object]], identity: bool) -> Shape:
    pairs = tuple(attributes)
    has_sid = has_uid = has_cid = False
    if identity:
        keys = [k for k, _ in pairs]
        has_sid, has_uid, has_cid = SESSION_ID in keys, USER_ID in keys, CONVERSATION_ID in keys
        if has_sid or has_uid or has_cid:
            pairs = tuple(kv for kv in pairs if kv[0] not in _IDENTITY)
    return Shape(key, pairs, pair_sum(pairs), has_sid, has_uid, has_cid)


def event_shape(name: str, attributes: Iterable[tuple[str, object]], *, identity: bool = True) -> Shape:
    """An event record carrying `attributes`; with `identity`, its session.id and user.id are the
    sending session's (Carried), whatever the attributes say."""
    return _shape(("event", name), attributes, identity)


def span_shape(
    name: str, attributes: Iterable[tuple[str, object]], status: str, message: str, *, identity: bool = True
) -> Shape:
    """A span, its status checked as one more attribute (content.span_pairs), as the receiver does."""
    return _shape(("span", name), span_pairs(attributes, status, message), identity)


class Batch:
    """The records of one request, as Shapes, with what acknowledging it needs computed once."""

    __slots__ = ("shapes", "fixed", "identified", "per_name")

    def __init__(self, shapes: Sequence[Shape]) -> None:
        self.shapes = tuple(shapes)
        # Digest of the records that carry no identity, per name: the same every time.
        fixed: dict[ContentKey, int] = {}
        # The records that do: their hash depends on the sending session's identity.
        self.identified: tuple[tuple[ContentKey, int, bool, bool, bool], ...] = tuple(
            (s.key, s.base, s.has_session_id, s.has_user_id, s.has_conversation_id)
            for s in self.shapes
            if s.has_session_id or s.has_user_id or s.has_conversation_id
        )
        counts: dict[ContentKey, list[int]] = {}
        for s in self.shapes:
            if not (s.has_session_id or s.has_user_id or s.has_conversation_id):
                fixed[s.key] = (fixed.get(s.key, 0) + record_hash(s.base)) & _MASK
            n = counts.setdefault(s.key, [0, 0, 0])
            n[0] += s.has_session_id
            n[1] += s.has_user_id
            n[2] += s.has_conversation_id
        self.fixed = fixed
        # Per name with an identity: how many of its records carry session.id, user.id and
        # gen_ai.conversation.id.
        self.per_name: tuple[tuple[ContentKey, int, int, int], ...] = tuple(
            (key, *n) for key, n in counts.items() if any(n)
        )


@dataclass(slots=True)
class Carried:
    """What one request's events or spans carry: its batch, and the identity of the session sending it
    (for records prepared with an identity)."""

    batch: Batch
    session_id: str = ""
    user_id: str = ""
    # The resources the records were sent under: (resource attributes, how many records) per resource.
    resources: tuple[tuple[tuple, int], ...] = ()


class AcknowledgedContent:
    """What the records of every acknowledged request carried, added up (see the module's documentation)."""

    def __init__(self) -> None:
        self._batches: dict[int, list] = {}  # id(batch) -> [batch, times acknowledged]
        self._digests: dict[ContentKey, int] = {}  # of the records with an identity
        self._identity: dict[ContentKey, dict[str, AttributeTally]] = {}
        # (("resource", signal), resource attributes) -> records sent under it, as the receiver counts them.
        self._resources: dict[tuple[ContentKey, tuple], int] = {}

    def add(self, carried: Carried, times: int = 1) -> None:
        """The records `carried`, acknowledged `times` times."""
        batch = carried.batch
        entry = self._batches.get(id(batch))
        if entry is None:
            self._batches[id(batch)] = [batch, times]  # holds the batch: its id is not reused meanwhile
        else:
            entry[1] += times
        if carried.resources:
            signal = _RESOURCE_OF[batch.shapes[0].key[0]]
            resources = self._resources
            for pairs, n in carried.resources:
                resources[signal, pairs] = resources.get((signal, pairs), 0) + n * times
        if not batch.identified:
            return
        sid, uid = carried.session_id, carried.user_id
        h_sid, h_uid = pair_hash(SESSION_ID, sid), pair_hash(USER_ID, uid)
        h_cid = pair_hash(CONVERSATION_ID, sid)
        digests = self._digests
        for key, base, has_sid, has_uid, has_cid in batch.identified:
            h = record_hash(
                base + (h_sid if has_sid else 0) + (h_uid if has_uid else 0) + (h_cid if has_cid else 0)
            )
            digests[key] = (digests.get(key, 0) + times * h) & _MASK
        for key, n_sid, n_uid, n_cid in batch.per_name:
            tallies = self._identity.get(key)
            if tallies is None:
                tallies = self._identity[key] = {}
            for attribute, value, h, n in (
                (SESSION_ID, sid, h_sid, n_sid),
                (USER_ID, uid, h_uid, n_uid),
                (CONVERSATION_ID, sid, h_cid, n_cid),
            ):
                if n:
                    tally = tallies.get(attribute) or tallies.setdefault(attribute, AttributeTally())
                    tally.add(value, h, n * times)

    def contents(self) -> dict[ContentKey, Content]:
        out: dict[ContentKey, Content] = {}
        digests = dict(self._digests)
        for batch, times in self._batches.values():
            for shape in batch.shapes:
                content_of(out, shape.key).add(shape.pairs, times)
            for key, h in batch.fixed.items():
                digests[key] = (digests.get(key, 0) + times * h) & _MASK
        for key, c in out.items():
            # Content.add hashed each record without its identity: the digest is the whole records'.
            c.digest = digests.get(key, 0)
            for attribute, tally in self._identity.get(key, {}).items():
                mine = c.attributes.get(attribute)
                if mine is None:
                    c.attributes[attribute] = tally.copy()
                else:
                    mine.merge(tally, attribute)
        for (key, pairs), n in self._resources.items():
            content_of(out, key).add(pairs, n)
        return out


class AcknowledgedTotals:
    """Everything acknowledged requests carried: `add(request)` for each (a load.session.Request), then
    `totals()`. A request sent again and again (`repeated`) is only counted until then."""

    def __init__(self) -> None:
        self._builder = TotalsBuilder(content=False)
        self._content = AcknowledgedContent()
        self._repeated: dict[int, list] = {}  # id(request) -> [request, times acknowledged]

    def add(self, request) -> None:
        if request.repeated:
            entry = self._repeated.get(id(request))
            if entry is None:
                self._repeated[id(request)] = [request, 1]
            else:
                entry[1] += 1
            return
        self._add(request, 1)

    def _add(self, request, times: int) -> None:
        if request.metric_items:
            add_metric = self._builder.add_metric
            # `times` copies of a value add up to value * times exactly rounded, as math.fsum of them.
            for name, attributes, value in request.metric_items:
                add_metric(name, attributes, value * times if times != 1 else value)
        if request.carried is not None:
            self._content.add(request.carried, times)

    def totals(self) -> Totals:
        for request, times in self._repeated.values():
            self._add(request, times)
        self._repeated.clear()
        totals = self._builder.totals()
        content = self._content.contents()
        for (kind, name), c in content.items():
            if kind == "event":
                totals.add_event(name, c.count)
            elif kind == "span":
                totals.add_span(name, c.count)
        totals.content = content
        return totals


def request_content(requests: Iterable) -> dict[ContentKey, Content]:
    """What the events and spans of `requests` carry, as the totals count them once acknowledged."""
    acknowledged = AcknowledgedContent()
    for request in requests:
        if request.carried is not None:
            acknowledged.add(request.carried)
    return acknowledged.contents()
