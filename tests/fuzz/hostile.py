"""Hostile input for the fuzz suite: values no real session has, and mutations of real YAML documents."""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from hypothesis import strategies as st
from pydantic import BaseModel

from claude_telemetry_cli.scenario import model

# Numbers around and far past the limits, but none that is valid and expensive (a session repeated
# 100,000 times is honest work proportional to its records, not what this suite looks for).
NUMBERS = st.integers(-5, 100) | st.sampled_from(
    [
        -(10**30),
        100_001,
        10**7,
        10**7 + 1,
        86_400_000,
        86_400_001,
        10**9,
        10**15,
        1_500_000_000_000_000,
        10**26,
        2**63,
        2**64,
        10**39,
        10**40,
        10**41,
    ]
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e26, 1e308, -0.0, 0.25, 2.5e6])
WORDS = st.sampled_from(
    [
        "",
        "~",
        "{{ faker.email }}",
        "{{ faker.pyint }}",
        "{{ faker.nope }}",
        "{{ nope }}",
        "{{",
        "[/x]",
        "[bold]x",
        "*a",
        "&a",
        "<<",
        "1e26",
        "inf",
        "nan",
        "-5s",
        "1000000000000000000000h",
        "99999999h",
        "720h",
        "2001-13-45",
        "file:/tmp/bodies",
        "file:relative",
        "claude-opus-4-5",
        "mcp__github__get_issue",
        "UTC+99:00",
    ]
)
# Any character, control characters included: dumped, they become escapes YAML reads back.
TEXT = st.text(st.characters(codec="utf-8"), max_size=24)
SCALARS = NUMBERS | FLOATS | WORDS | TEXT | st.booleans() | st.none()


def nested(depth: int) -> Any:
    """A list inside a list, `depth` levels deep."""
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def shared(levels: int) -> Any:
    """Nine references to nine references to ... a list: dumped, anchors and aliases ("billion laughs")."""
    value: Any = ["x"] * 9
    for _ in range(levels):
        value = [value] * 9
    return value


VALUES = st.one_of(
    SCALARS,
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=8,
    ),
    st.integers(40, 140).map(nested),
    st.integers(1, 9).map(shared),
)


def _field_names() -> list[str]:
    names: set[str] = set()
    for item in vars(model).values():
        if isinstance(item, type) and issubclass(item, BaseModel):
            names.update(item.model_fields)
    return sorted(names)


KEYS = st.sampled_from(_field_names()) | TEXT | st.sampled_from(["<<", "sessions", "steps", "defaults"])


def _paths(node: Any, path: tuple = (), seen: set[int] | None = None) -> list[tuple]:
    """Every place in a document (not the document itself); a list or mapping that appears more than
    once (an alias, dumped) is entered once."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return []
    seen.add(id(node))
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append((*path, key))
        out.extend(_paths(value, (*path, key), seen))
    return out


def _at(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


@st.composite
def mutated(draw, document: Any, keys=KEYS, values=VALUES) -> Any:
    """`document` with one to three places replaced, added or removed."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        places = _paths(document)
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = _at(document, path[:-1])
        action = draw(st.sampled_from(["replace", "replace", "add", "remove"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(keys)] = draw(values)
        elif action == "add":
            parent.insert(path[-1], draw(values))
        else:
            del parent[path[-1]]
    return document


def dump(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, width=120)


_BOMB = """
laughs:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""
CONTROL = [chr(c) for c in (*range(1, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0xFFFE)]
_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")


@st.composite
def damaged(draw, text: str) -> str:
    """`text` as written, or with damage only text can carry: a raw control character, a number of
    thousands of digits, brackets nested thousands deep, an alias bomb, a cycle, a cut."""
    action = draw(
        st.sampled_from(["none", "none", "control", "digits", "brackets", "bomb", "cycle", "cut", "tab"])
    )
    if action == "control":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.sampled_from(CONTROL)) + text[at:]
    if action == "digits":
        numbers = list(_NUMBER.finditer(text))
        if numbers:
            found = draw(st.sampled_from(numbers))
            digits = "1" + "0" * draw(st.sampled_from([40, 41, 400, 5000, 50_000]))
            return text[: found.start()] + digits + text[found.end() :]
        return text
    if action == "brackets":
        depth = draw(st.sampled_from([65, 300, 999, 1001, 5000, 100_000]))
        return text + f"deep: {'[' * depth}{']' * depth}\n"
    if action == "bomb":
        return text + _BOMB
    if action == "cycle":
        return text + "loop: &loop [*loop]\n"
    if action == "cut":
        return text[: draw(st.integers(0, len(text)))]
    if action == "tab":
        at = draw(st.integers(0, len(text)))
        return text[:at] + "\t" + text[at:]
    return text
