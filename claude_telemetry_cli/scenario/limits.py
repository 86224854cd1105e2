"""The most a scenario or generator preset may ask for, and YAML read without going past it."""

from __future__ import annotations

import re

import yaml

__all__ = [
    "MAX_ALIAS_VALUES",
    "MAX_ATTEMPTS",
    "MAX_BYTES",
    "MAX_COST_USD",
    "MAX_COUNT",
    "MAX_DIGITS",
    "MAX_HOOKS",
    "MAX_LINES",
    "MAX_NESTING",
    "MAX_PRICE_USD",
    "MAX_REPEAT",
    "MAX_SPAN_SECONDS",
    "MAX_START_SECONDS",
    "MAX_STEP_MS",
    "MAX_TEXT_LENGTH",
    "MAX_TOKENS",
    "MAX_WAIT_SECONDS",
    "YamlRefused",
    "check_nodes",
    "compose",
    "digits_message",
    "nesting_message",
    "number_too_long",
]

_DAY = 86_400.0

# Every limit is far above what a real Claude Code session reports; each keeps the work a file asks
# for proportional to its records, never to one of its values.
MAX_NESTING = 64  # levels of mappings and lists, the scenario's own included
MAX_ALIAS_VALUES = 1_000_000  # values aliases and `defaults:` may add to what the file writes out
MAX_DIGITS = 40  # digits of one number
MAX_REPEAT = 100_000  # copies of one session entry
MAX_TOKENS = 10_000_000  # tokens of one kind in one request, compaction or subagent
MAX_TEXT_LENGTH = 1_000_000  # characters of a prompt or response given by length
MAX_STEP_MS = 86_400_000  # one step's duration_ms: a day
MAX_WAIT_SECONDS = 30 * _DAY  # one wait, or active time reported by one step
MAX_START_SECONDS = 4_000 * _DAY  # start_at and repeat_every: a generated decade fits
MAX_SPAN_SECONDS = 10_000 * _DAY  # from the scenario start to the end of its last session
MAX_ATTEMPTS = 100  # attempts of one request
MAX_HOOKS = 1_000  # hooks one hook event runs
MAX_LINES = 10_000_000  # lines one edit adds or removes
MAX_BYTES = 1_000_000_000  # a tool's input or result size
MAX_COUNT = 1_000_000_000  # any other count
MAX_COST_USD = 100_000.0  # cost of one request
MAX_PRICE_USD = 1_000_000.0  # a price per million tokens

_INT_TAG = "tag:yaml.org,2002:int"
# Line breaks as YAML counts them, so a line found from a character position agrees with its marks.
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


class YamlRefused(Exception):
    """YAML that cannot be read, or that goes past a limit: the line (1-based, in the text given) and a
    one-line message; the caller adds the file."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def compose(text: str, what: str = "scenario", first_line: int = 1) -> yaml.Node | None:
    """The YAML node tree of `text`, aliases not expanded (check_nodes() measures them).

    libyaml's parser keeps the same marks and is ~10x faster on large generated files; on a syntax
    error the Python parser runs again, for its more precise message. `what` names the document in
    messages ("scenario", "preset"); `text` starts at `first_line` of its file.
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.MarkedYAMLError as exc:
            # libyaml stops at 1,000 levels; the Python parser would take minutes to get as deep.
            if exc.problem == "exceeded maximum nesting depth":
                deepest = exc.problem_mark.line + 1 if exc.problem_mark else 1
                line = _too_deep_line(text, fast, deepest)
                raise YamlRefused(line + first_line - 1, nesting_message(what)) from None
        except yaml.YAMLError:
            pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        # The Python composer recurses once per level; the parser under it does not.
        line = _too_deep_line(text, yaml.SafeLoader, 1)
        raise YamlRefused(line + first_line - 1, nesting_message(what)) from None
    except yaml.MarkedYAMLError as exc:
        raise YamlRefused(*_marked_problem(exc, text, first_line)) from None
    except yaml.reader.ReaderError as exc:
        raise YamlRefused(*_reader_problem(exc, text, first_line)) from None
    except yaml.YAMLError as exc:
        raise YamlRefused(first_line, "invalid YAML: " + " ".join(str(exc).split())) from None


def check_nodes(root: yaml.Node, what: str = "scenario", first_line: int = 1) -> None:
    """Refuse a node tree that nests deeper than MAX_NESTING, holds itself through an alias, has a
    number longer than MAX_DIGITS, or whose aliases add more than MAX_ALIAS_VALUES values: before any
    code that recurses or expands aliases sees it. One pass, without recursion."""
    base = first_line - 1
    sizes: dict[int, int] = {}  # values under a node once its aliases are expanded, itself included
    heights: dict[int, int] = {}
    inside: set[int] = set()
    added = 0
    # (node, depth, line of the place that holds it, leaving): a repeated node is reported where the
    # alias is, not where its anchor is.
    work: list[tuple[yaml.Node, int, int, bool]] = [(root, 1, root.start_mark.line + first_line, False)]
    while work:
        node, depth, line, leaving = work.pop()
        key = id(node)
        if leaving:
            inside.discard(key)
            children = [child for child, _ in _children(node)]
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            heights[key] = 1 + max((heights[id(child)] for child in children), default=0)
            continue
        if key in inside:
            raise YamlRefused(
                line, f"an alias repeats a mapping or list inside itself; a {what} cannot hold itself"
            )
        if key in sizes:
            added += sizes[key]
            if added > MAX_ALIAS_VALUES:
                raise YamlRefused(
                    line,
                    f"aliases repeat more than {MAX_ALIAS_VALUES:,} values, "
                    f"the most aliases may add to a {what}",
                )
            if depth + heights[key] - 1 > MAX_NESTING:
                raise YamlRefused(line, nesting_message(what))
            continue
        own_line = node.start_mark.line + first_line
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG and _digits(node.value) > MAX_DIGITS:
                raise YamlRefused(own_line, digits_message(node.value, what))
            sizes[key] = heights[key] = 1
            continue
        if depth > MAX_NESTING:
            raise YamlRefused(own_line, nesting_message(what))
        inside.add(key)
        work.append((node, depth, line, True))
        for child, child_line in reversed(_children(node)):
            work.append((child, depth + 1, child_line + base, False))


def number_too_long(value: str) -> bool:
    """Whether the text of an integer scalar has more digits than MAX_DIGITS."""
    return _digits(value) > MAX_DIGITS


def _children(node: yaml.Node) -> list[tuple[yaml.Node, int]]:
    if isinstance(node, yaml.MappingNode):
        out = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            out.append((key_node, line))
            out.append((value_node, line))
        return out
    if isinstance(node, yaml.SequenceNode):
        line = node.start_mark.line + 1
        return [(item, line) for item in node.value]
    return []


def _digits(value: str) -> int:
    return sum(1 for c in value if c.isalnum())


def digits_message(value: str, what: str = "scenario") -> str:
    return (
        f"a number of {_digits(value):,} digits is longer than {MAX_DIGITS}, "
        f"the most digits a {what} may give a number"
    )


def nesting_message(what: str = "scenario") -> str:
    return f"nested more than {MAX_NESTING} levels deep, the most a {what} may nest"


def _too_deep_line(text: str, loader: type, otherwise: int) -> int:
    """The line where `text` first nests past MAX_NESTING, read event by event (without recursion);
    `otherwise` when the parser stops before (a flow collection is read ahead up to the error)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_NESTING:
                    return event.start_mark.line + 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        pass
    return otherwise


def _marked_problem(exc: yaml.MarkedYAMLError, text: str, first_line: int) -> tuple[int, str]:
    mark = exc.problem_mark or exc.context_mark
    # A problem found at the end of the stream is reported past the last line; keep it on a real one.
    line = min(mark.line + 1, max(1, len(text.splitlines()))) if mark else 1
    message = f"invalid YAML: {exc.problem or exc}"
    if exc.context and exc.context_mark is not None:
        message += f" ({exc.context} started at line {exc.context_mark.line + first_line})"
    return line + first_line - 1, message


def _reader_problem(exc: yaml.reader.ReaderError, text: str, first_line: int) -> tuple[int, str]:
    """A character YAML does not allow in a document, at the line it is on."""
    position = max(0, min(exc.position, len(text)))
    line = len(_LINE_BREAK.findall(text, 0, position)) + first_line
    character = exc.character
    if isinstance(character, int):
        shown = f"U+{character:04X}"
        escaped = f"\\x{character:02x}" if character < 0x100 else f"\\u{character:04x}"
        if character > 0xFFFF:
            escaped = f"\\U{character:08x}"
    else:
        shown = escaped = repr(character)
    return line, (
        f"invalid YAML: the character {shown} cannot appear in YAML text; "
        f'write it as an escape inside double quotes: "{escaped}"'
    )
