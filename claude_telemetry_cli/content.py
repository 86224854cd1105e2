"""What the records of one name carry, summed up so that two multisets of them compare in bounded memory.

A Content stands for every record of one event name, one span name, or one signal's resources: how
many there were and, per attribute, how many carried it, as which value types, and which values. The
values are counted exactly up to CAP distinct ones per attribute (a tool name, a model, a decision);
past that (session ids, prompt ids, prompt text) only a digest of them is kept, with a few samples. A
digest of whole records catches values recombined across records. Memory grows with names, attribute
keys and CAP, never with the number of records.

Digests are sums, modulo 2**64, of a stable 64-bit hash per value (or per record): a sum does not depend
on the order records were added, so the Contents of several senders, workers or processes merge by
adding up, and two multisets differ in digest unless a 1-in-2**64 accident.

What varies with the time of sending is left out: `event.timestamp` (a record's own time fields are not
attributes). Both sides must add records the same way: the expected totals from what was sent, the
receiver from what arrived.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CAP = 64  # distinct values counted exactly per attribute
SAMPLES = 3  # values kept as examples of those past CAP
VOLATILE = frozenset({"event.timestamp"})
STATUS = "(status)"  # a span's status (and its message) checked as if it were an attribute

_MASK = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15  # an odd constant: the record digest's mixing multiplier

# The types a value arrives as, by the name a user reads in OTLP.
_TAGS = {str: "string", bool: "bool", int: "int", float: "double", tuple: "array", bytes: "bytes"}


def type_name(value: object) -> str:
    return _TAGS.get(type(value), type(value).__name__)


def _canon(value: object) -> bytes:
    """A value as bytes that differ whenever its OTLP type or value differs."""
    kind = type(value)
    if kind is str:
        return b"s" + value.encode("utf-8", "surrogatepass")
    if kind is bool:
        return b"b1" if value else b"b0"
    if kind is int:
        return b"i" + str(value).encode()
    if kind is float:
        return b"d" + value.hex().encode()
    if kind is bytes:
        return b"x" + value
    if kind is tuple:
        return b"a" + b"\x1f".join(_canon(v) for v in value) + b"\x1d"
    return b"?" + repr(value).encode()


class _Hashes:
    """Stable 64-bit hashes of (key, value) pairs, remembered: the same attribute values recur on
    record after record (a model, a tool name), and hashing them is the cost of a Content."""

    LIMIT = 200_000

    def __init__(self) -> None:
        self._known: dict[tuple, int] = {}

    def __call__(self, key: str, value: object) -> int:
        # The type is part of the memo key: True == 1 == 1.0 to a dict, not on the wire.
        memo = (key, type(value), value)
        try:
            return self._known[memo]
        except KeyError:
            pass
        except TypeError:  # an unhashable value (a list): hash it each time
            return _hash(key, value)
        if len(self._known) >= self.LIMIT:
            self._known.clear()
        h = self._known[memo] = _hash(key, value)
        return h


def _hash(key: str, value: object) -> int:
    data = key.encode("utf-8", "surrogatepass") + b"\x00" + _canon(value)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


pair_hash = _Hashes()


def _record_hash(pair_sum: int) -> int:
    """A record's hash from the sum of its pairs' hashes: a nonlinear mix (splitmix64's finalizer), so
    that the sum over records of these changes when values move from one record to another."""
    z = (pair_sum * _MIX) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class AttributeTally:
    """One attribute key over the records of one name: how many carried it, as which types, which values."""

    __slots__ = ("count", "types", "values", "other", "other_digest", "samples", "_room")

    def __init__(self) -> None:
        self.count = 0
        self.types: dict[str, int] = {}
        self.values: dict[tuple[str, object], int] = {}  # (type name, value) -> records
        self.other = 0  # records whose value is past CAP
        self.other_digest = 0
        self.samples: list[tuple[str, object]] = []
        self._room = CAP

    def add(self, value: object, h: int, n: int = 1) -> None:
        tag = type_name(value)
        self.count += n
        self.types[tag] = self.types.get(tag, 0) + n
        key = (tag, value)
        values = self.values
        if key in values:
            values[key] += n
        elif len(values) < self._room:
            values[key] = n
        else:
            self._past_cap(key, h, n)

    def _past_cap(self, key: tuple[str, object], h: int, n: int) -> None:
        self.other += n
        self.other_digest = (self.other_digest + n * h) & _MASK
        if len(self.samples) < SAMPLES:
            self.samples.append(key)

    def expect(self, keys: Iterable[tuple[str, object]]) -> None:
        """Count these values exactly whatever else arrives (the receiver seeds what it expects), so a
        difference can be told record by record."""
        for key in keys:
            if key not in self.values:
                self.values[key] = 0
                self._room += 1

    def digest(self, attribute: str) -> int:
        total = self.other_digest
        for (_tag, value), n in self.values.items():
            if n:
                total += n * pair_hash(attribute, value)
        return total & _MASK

    @property
    def exact(self) -> bool:
        """Every value is counted (none went past CAP)."""
        return self.other == 0

    def merge(self, other: AttributeTally, attribute: str) -> None:
        self.count += other.count
        for tag, n in other.types.items():
            self.types[tag] = self.types.get(tag, 0) + n
        # Counted exactly where there is room, as if the other's records had been added here.
        self.other += other.other
        self.other_digest = (self.other_digest + other.other_digest) & _MASK
        for key, n in other.values.items():
            if not n:
                continue
            if key in self.values or len(self.values) < self._room:
                self.values[key] = self.values.get(key, 0) + n
            else:
                self._past_cap(key, pair_hash(attribute, key[1]), n)
        for key in other.samples:
            if len(self.samples) >= SAMPLES:
                break
            self.samples.append(key)

    def copy(self) -> AttributeTally:
        out = AttributeTally()
        out.count, out.other, out.other_digest, out._room = (
            self.count,
            self.other,
            self.other_digest,
            self._room,
        )
        out.types, out.values, out.samples = dict(self.types), dict(self.values), list(self.samples)
        return out

    def to_json(self, attribute: str) -> dict:
        """As JSON, the same for the same records in any order: past CAP, which values were counted
        exactly depends on the order they came in, so then only the digest of them all is written."""
        out: dict = {"count": self.count, "types": dict(sorted(self.types.items()))}
        if self.other:
            out["values"] = []
            out["other"] = {"count": self.count, "digest": f"{self.digest(attribute):016x}"}
            return out
        out |= {
            "values": [
                [tag, _jsonable(value), n]
                for (tag, value), n in sorted(self.values.items(), key=lambda kv: (-kv[1], repr(kv[0])))
                if n
            ],
        }
        return out

    @classmethod
    def from_json(cls, data: Mapping) -> AttributeTally:
        out = cls()
        out.count = int(data["count"])
        out.types = {str(k): int(v) for k, v in data["types"].items()}
        for tag, value, n in data["values"]:
            out.values[(tag, _from_json(tag, value))] = int(n)
        out._room = max(CAP, len(out.values))
        other = data.get("other")
        if other:
            out.other = int(other["count"])
            out.other_digest = int(other["digest"], 16)
            out.samples = [(tag, _from_json(tag, value)) for tag, value in other.get("samples", [])]
        return out


class Content:
    """Every record of one name: see the module's documentation."""

    __slots__ = ("count", "digest", "attributes")

    def __init__(self) -> None:
        self.count = 0
        self.digest = 0  # sum of the records' hashes
        self.attributes: dict[str, AttributeTally] = {}

    def add(self, attributes: Iterable[tuple[str, object]], n: int = 1) -> None:
        """`n` records carrying `attributes` (the time-varying ones are skipped)."""
        self.count += n
        tallies = self.attributes
        pair_sum = 0
        for key, value in attributes:
            if key in VOLATILE:
                continue
            if type(value) is float:
                # Held to the precision metric values are (1e-9): a double written as JSON text and
                # read back by a collector may come out one unit in the last place away.
                value = float(f"{value:.12g}")
            h = pair_hash(key, value)
            pair_sum += h
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = AttributeTally()
            tally.add(value, h, n)
        self.digest = (self.digest + n * _record_hash(pair_sum & _MASK)) & _MASK

    def merge(self, other: Content) -> None:
        self.count += other.count
        self.digest = (self.digest + other.digest) & _MASK
        for key, tally in other.attributes.items():
            self._tally(key).merge(tally, key)

    def expect(self, expected: Content) -> None:
        """Count exactly every value `expected` counted exactly (see AttributeTally.expect)."""
        for key, tally in expected.attributes.items():
            self._tally(key).expect(k for k, n in tally.values.items() if n)

    def _tally(self, key: str) -> AttributeTally:
        tally = self.attributes.get(key)
        if tally is None:
            tally = self.attributes[key] = AttributeTally()
        return tally

    def same_as(self, other: Content) -> bool:
        if self.count != other.count or self.digest != other.digest:
            return False
        keys = {k for k, t in self.attributes.items() if t.count} | {
            k for k, t in other.attributes.items() if t.count
        }
        for key in keys:
            a, b = self.attributes.get(key), other.attributes.get(key)
            if a is None or b is None or a.count != b.count or a.types != b.types:
                return False
            if a.digest(key) != b.digest(key):
                return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Content) and self.same_as(other)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def to_json(self) -> dict:
        return {
            "count": self.count,
            "digest": f"{self.digest:016x}",
            "attributes": {
                key: tally.to_json(key) for key, tally in sorted(self.attributes.items()) if tally.count
            },
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Content:
        out = cls()
        out.count = int(data["count"])
        out.digest = int(data["digest"], 16)
        out.attributes = {str(k): AttributeTally.from_json(v) for k, v in data["attributes"].items()}
        return out

    def copy(self) -> Content:
        out = Content()
        out.count, out.digest = self.count, self.digest
        out.attributes = {k: t.copy() for k, t in self.attributes.items()}
        return out


def content_of(contents: dict[tuple[str, str], Content], key: tuple[str, str]) -> Content:
    """The Content kept under `key`, a new one the first time."""
    c = contents.get(key)
    if c is None:
        c = contents[key] = Content()
    return c


def merge_contents(into: dict[tuple[str, str], Content], other: Mapping[tuple[str, str], Content]) -> None:
    """Add each of `other`'s Contents into `into`'s (left unchanged itself)."""
    for key, c in other.items():
        mine = into.get(key)
        if mine is None:
            into[key] = c.copy()
        else:
            mine.merge(c)


def same_contents(a: Mapping[tuple[str, str], Content], b: Mapping[tuple[str, str], Content]) -> bool:
    """The same records under every key (one with no records counts as absent)."""
    keys = {k for k, c in a.items() if c.count} | {k for k, c in b.items() if c.count}
    return all(k in a and k in b and a[k].same_as(b[k]) for k in keys)


# ------------------------------------------------------------------------------- records added in parts


def pair_sum(attributes: Iterable[tuple[str, object]]) -> int:
    """What Content.add sums of a record carrying `attributes` before it hashes the record. A sender
    adding the same records over and over, but for a few values, sums the rest once: record_hash of that
    sum plus pair_hash of each value added apart is what the whole record adds to Content.digest."""
    total = 0
    for key, value in attributes:
        if key in VOLATILE:
            continue
        if type(value) is float:
            value = float(f"{value:.12g}")  # as Content.add holds it
        total += pair_hash(key, value)
    return total & _MASK


def record_hash(pair_total: int) -> int:
    """What one record adds to Content.digest, from the sum of its pairs' hashes (see pair_sum)."""
    return _record_hash(pair_total & _MASK)


# ------------------------------------------------------------------------------------------ differences


@dataclass(frozen=True)
class Difference:
    """How the records of one name differ from those expected, in one attribute (or as wholes)."""

    what: str  # "dropped", "added", "retyped", "changed", "recombined"
    attribute: str  # "" for "recombined"
    records: int | None  # how many records it touched; None when it cannot be told (values past CAP)
    of: int  # how many records of that name were expected
    detail: str = ""

    def describe(self) -> str:
        many = f"{self.records} of {self.of}" if self.records is not None else f"some of {self.of}"
        if self.what == "recombined":
            return f"records altered: their attributes are recombined across records ({self.detail})"
        subject = "status" if self.attribute == STATUS else f"attribute '{self.attribute}'"
        if self.what == "retyped":
            return f"{subject} arrived as {self.detail} on {many}"
        line = f"{subject} {self.what} on {many}"
        return f"{line} ({self.detail})" if self.detail else line

    def to_json(self) -> dict:
        out = {"what": self.what, "attribute": self.attribute, "records": self.records, "of": self.of}
        if self.detail:
            out["detail"] = self.detail
        return out


def differences(expected: Content, received: Content) -> list[Difference]:
    """What differs between the records expected and those received, attribute by attribute, with how
    many records each difference touched. Compare only Contents of as many records: when counts differ,
    the count is the difference to report (which records are missing cannot be told)."""
    if expected.same_as(received):
        return []
    n = expected.count
    out: list[Difference] = []
    keys = sorted(
        {k for k, t in expected.attributes.items() if t.count}
        | {k for k, t in received.attributes.items() if t.count}
    )
    empty = AttributeTally()
    for key in keys:
        e = expected.attributes.get(key) or empty
        r = received.attributes.get(key) or empty
        if e.count > r.count:
            out.append(Difference("dropped", key, e.count - r.count, n))
        elif r.count > e.count:
            out.append(Difference("added", key, r.count - e.count, n, _example_added(r)))
        if e.count == 0 or r.count == 0:
            continue
        retyped = 0
        if e.types != r.types:
            lost = {t: c - r.types.get(t, 0) for t, c in e.types.items() if c > r.types.get(t, 0)}
            gained = {t: c - e.types.get(t, 0) for t, c in r.types.items() if c > e.types.get(t, 0)}
            if lost and gained:
                retyped = min(sum(lost.values()), sum(gained.values()))
                was = " or ".join(sorted(lost, key=lambda t: -lost[t]))
                now = " or ".join(sorted(gained, key=lambda t: -gained[t]))
                out.append(Difference("retyped", key, retyped, n, f"{now}, expected {was}"))
        if e.digest(key) != r.digest(key):
            changed = _changed(e, r, retyped)
            if changed is None or changed > 0:
                out.append(Difference("changed", key, changed, n, _change_detail(e, r)))
    if not out:
        out.append(Difference("recombined", "", None, n, "each attribute carries the expected values"))
    return out


def _changed(e: AttributeTally, r: AttributeTally, retyped: int) -> int | None:
    """Records whose value is not one expected, counted when every expected value is counted exactly."""
    if not e.exact:
        return None
    short = sum(max(c - r.values.get(k, 0), 0) for k, c in e.values.items())
    # Records that lost the attribute altogether, or changed type, are reported as such.
    return max(short - max(e.count - r.count, 0) - retyped, 0) if r.count else 0


def _change_detail(e: AttributeTally, r: AttributeTally) -> str:
    missing = [(c - r.values.get(k, 0), k) for k, c in e.values.items() if c > r.values.get(k, 0)]
    extra = [(c - e.values.get(k, 0), k) for k, c in r.values.items() if c > e.values.get(k, 0)]
    want = max(missing, key=lambda x: x[0])[1] if missing else None
    got = max(extra, key=lambda x: x[0])[1] if extra else (r.samples[0] if r.samples else None)
    parts = []
    if want is not None:
        parts.append(f"expected {show(want[1])}")
    if got is not None:
        parts.append(f"received {show(got[1])}")
    return ", ".join(parts)


def _example_added(r: AttributeTally) -> str:
    if r.values:
        (_tag, value), _n = max(r.values.items(), key=lambda kv: kv[1])
        return f"e.g. {show(value)}"
    return ""


def show(value: object) -> str:
    """A value as a report shows it: short strings quoted, long ones by their length."""
    if isinstance(value, str):
        if len(value) > 40:
            return f"a {len(value)}-character string"
        return repr(value)
    if isinstance(value, tuple):
        text = json.dumps(_jsonable(value))
        return text if len(text) <= 40 else f"an array of {len(value)} values"
    return repr(value)


def _jsonable(value: object):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _from_json(tag: str, value):
    if tag == "array":
        return _tuple(value)
    if tag == "bytes":
        return bytes.fromhex(value)
    if tag == "double":
        return float(value)
    if tag == "int":
        return int(value)
    return value


def _tuple(value):
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


def span_pairs(attributes: Iterable[tuple[str, object]], status: str, message: str = "") -> list:
    """A span's attributes with its status as one more, as both sides add spans to a Content."""
    return [*attributes, (STATUS, f"{status}: {message}" if message else status)]
