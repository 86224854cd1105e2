"""Load a scenario YAML file into the model; every error a user can make is reported as FILE:LINE."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from claude_telemetry_cli.contract import MODEL_PRICES
from claude_telemetry_cli.durations import DURATION_HELP
from claude_telemetry_cli.errors import ScenarioError
from claude_telemetry_cli.scenario.limits import (
    MAX_ALIAS_VALUES,
    MAX_NESTING,
    MAX_SPAN_SECONDS,
    YamlRefused,
    check_nodes,
    compose,
    digits_message,
    nesting_message,
    number_too_long,
)
from claude_telemetry_cli.scenario.model import (
    SESSION_FIELDS,
    STEP_KINDS,
    Scenario,
    ScenarioHeader,
    Session,
    claim_session_id,
    unpriced_steps,
)

__all__ = ["ScenarioSessions", "load_scenario", "load_scenario_text", "read_sessions"]


class _Map(dict):
    """A YAML mapping that remembers its line and the line of each key."""

    __slots__ = ("line", "key_lines", "inherited")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}
        # Keys that came from `defaults:`, so errors can say where the bad value was written.
        self.inherited: set[str] = set()


class _Seq(list):
    """A YAML sequence that remembers its line and the line of each item."""

    __slots__ = ("line", "item_lines")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; ScenarioError names the file and line of the first problem."""
    path = Path(path)
    return load_scenario_text(_read(path), str(path))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read the scenario: {exc.strerror or exc}", path=str(path)) from None
    except UnicodeDecodeError:
        raise ScenarioError("the scenario is not UTF-8 text", path=str(path)) from None


@dataclass
class ScenarioSessions:
    """A scenario read one session entry at a time: its header, then `entries` yields
    (index in the file, Session), each validated as it is read, so a large generated file never has
    all its sessions in memory. Errors (ScenarioError, FILE:LINE) are raised by the iteration."""

    header: ScenarioHeader
    entries: Iterator[tuple[int, Session]]
    count: int  # session entries in the file
    streamed: bool  # False: the file was loaded whole (it uses faker or anchors across sessions)


def read_sessions(path: Path) -> ScenarioSessions:
    """The scenario at `path`, session by session; the same sessions load_scenario() gives.

    A file is read piece by piece when its `sessions:` list is its last top-level key and nothing in
    it depends on another part of the file: no `{{ faker.* }}` expression (their values follow file
    order) and no alias. Other files are loaded whole, with the same result.
    """
    path = Path(path)
    text = _read(path)
    pieces = _split_sessions(text)
    if pieces is None:
        scenario = load_scenario_text(text, str(path))
        entries = iter(enumerate(scenario.sessions))
        return ScenarioSessions(scenario, entries, len(scenario.sessions), streamed=False)
    header_text, items = pieces
    loader = _Loader(str(path))
    header = loader.load_header(header_text)
    loader.check_defaults_copies(len(items))
    return ScenarioSessions(header, loader.iter_sessions(text, items), len(items), streamed=True)


# `sessions:` as a top-level key with nothing after it on its line: a block sequence follows.
_SESSIONS_KEY = re.compile(r"^sessions:[ \t]*(?:#.*)?$", re.M)
# Something that may be an alias (`*name`) or a merge of one; a false alarm only means loading whole.
_ALIAS = re.compile(r"(?:^|[\s\[{,:])\*[^\s*,\]}]")


def _split_sessions(text: str) -> tuple[str, list[tuple[int, int, int]]] | None:
    """(header text, [(first line, start, end) of each session item]), or None when the file must be
    loaded whole."""
    keys = list(_SESSIONS_KEY.finditer(text))
    if len(keys) != 1 or "{{" in text or _ALIAS.search(text):
        return None
    key = keys[0]
    body = key.end() + 1
    first = re.compile(r"^( *)-(?: |$)", re.M).search(text, body)
    if first is None:
        return None
    # Only blank and comment lines may come between `sessions:` and the first item.
    between = text[body : first.start()].splitlines()
    if any(line.strip() and not line.lstrip().startswith("#") for line in between):
        return None
    indent = len(first.group(1))
    # The list must be the file's last block: no line indented less than its items (or, for items at
    # column 0, no line at column 0 that is not an item) may follow.
    if indent == 0:
        end = re.compile(r"^[^\s#-]", re.M)
    else:
        end = re.compile(rf"^ {{0,{indent - 1}}}[^\s#]", re.M)
    if end.search(text, first.start()):
        return None
    item = re.compile(rf"^ {{{indent}}}-(?: |$)", re.M)
    starts = [m.start() for m in item.finditer(text, first.start())]
    items = []
    line = text.count("\n", 0, first.start()) + 1
    for n, start in enumerate(starts):
        stop = starts[n + 1] if n + 1 < len(starts) else len(text)
        items.append((line, start, stop))
        line += text.count("\n", start, stop)
    return text[: key.start()], items


def load_scenario_text(text: str, source_name: str = "<scenario>") -> Scenario:
    """Validate scenario YAML given as text; `source_name` is the FILE in FILE:LINE errors."""
    return _Loader(source_name).load(text)


class _Loader:
    def __init__(self, source: str) -> None:
        self.source = source
        # Added to libyaml's 0-based line numbers: 1, or more for a piece of a file parsed on its own.
        self._base = 1

    def fail(self, line: int | None, message: str) -> ScenarioError:
        return ScenarioError(message, path=self.source, line=line)

    def _compose(self, text: str, first_line: int = 1):
        """The YAML node tree of `text` (which starts at `first_line` of the file), or FILE:LINE."""
        try:
            node = compose(text, "scenario", first_line)
            # Only an alias can repeat a node, make a cycle or nest deeper than the file reads; the
            # conversion checks the depth of everything else as it goes.
            if node is not None and _ALIAS.search(text):
                check_nodes(node, "scenario", first_line)
        except YamlRefused as exc:
            raise self.fail(exc.line, exc.message) from None
        return node

    def load_header(self, text: str) -> ScenarioHeader:
        """Everything before `sessions:`, validated; remembers the defaults to merge into each session."""
        node = self._compose(text)
        self._constructor = yaml.constructor.SafeConstructor()
        self._converted = {}
        data = self._convert(node) if node is not None else _Map(1)
        if not isinstance(data, _Map):
            raise self.fail(
                node.start_mark.line + self._base, "a scenario is a mapping with version, name, sessions, ..."
            )
        self._check_top(data)
        self._defaults = data.get("defaults")
        if self._defaults:
            data["defaults"] = _plain(self._defaults)
        try:
            header = ScenarioHeader.model_validate(data)
        except ValidationError as exc:
            raise self._explain(exc, data) from None
        self._known_models = set(MODEL_PRICES) | set(header.prices)
        self._session_ids: dict[str, int] = {}
        return header

    def iter_sessions(self, text: str, items: list[tuple[int, int, int]]) -> Iterator[tuple[int, Session]]:
        for index, (line, start, stop) in enumerate(items):
            yield index, self.load_session(text[start:stop], line, index)

    def load_session(self, text: str, line: int, index: int) -> Session:
        """One item of the `sessions:` list, starting at `line` of the file, checked as load() checks it."""
        self._base = line
        node = self._compose(text, line)
        # The constructor remembers every node it converted; a fresh memory per session keeps the
        # read of a large file at the size of one session.
        self._constructor.constructed_objects.clear()
        self._converted = {}
        # The piece is the `sessions:` list, which a whole file holds one level down.
        session = self._convert(node, 2)[0]
        if self._defaults and isinstance(session, _Map):
            session = _merge(_copy(self._defaults), session)
        self._check_session_steps(session, index)
        try:
            model = Session.model_validate(session)
        except ValidationError as exc:
            raise self._explain(exc, session, ("sessions", index), line) from None
        self._check_session_prices(model, session, index, self._known_models)
        if problem := claim_session_id(self._session_ids, model, index):
            raise self.fail(session.key_lines["session_id"], problem)
        self._check_span(model, session, index)
        return model

    def load(self, text: str) -> Scenario:
        node = self._compose(text)
        if node is None:
            raise self.fail(1, "the scenario is empty; it needs at least `version: 1` and `sessions:`")
        self._constructor = yaml.constructor.SafeConstructor()
        # An alias is the very node of its anchor; converting it once makes `*anchor` repeat the anchored
        # values, faker results included, instead of drawing new ones.
        self._converted: dict[int, Any] = {}
        data = self._convert(node)
        if not isinstance(data, _Map):
            raise self.fail(
                node.start_mark.line + self._base, "a scenario is a mapping with version, name, sessions, ..."
            )
        self._check_top(data)
        self._faker = None
        # The file's own expressions first, while an alias still shares its anchor's objects, then a
        # fresh copy of the defaults' expressions for each session.
        own = _Map(data.line)
        for key, value in data.items():
            if key != "defaults":
                own[key] = value
                own.key_lines[key] = data.key_lines[key]
        self._walk_strings(own, ())
        data.update(own)
        self._merge_defaults(data)
        self._walk_strings(data.get("sessions"), ("sessions",))
        self._check_steps(data)
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            raise self._explain(exc, data) from None
        self._check_prices(scenario, data)
        for i, session in enumerate(scenario.sessions):
            self._check_span(session, data["sessions"][i], i)
        return scenario

    # -- YAML nodes -> plain data that remembers lines ------------------------------------------

    def _convert(self, node: yaml.Node, depth: int = 1) -> Any:
        if id(node) in self._converted:
            return self._converted[id(node)]
        value = self._converted[id(node)] = self._convert_new(node, depth)
        return value

    def _convert_new(self, node: yaml.Node, depth: int) -> Any:
        line = node.start_mark.line + self._base
        if depth > MAX_NESTING and not isinstance(node, yaml.ScalarNode):
            raise self.fail(line, nesting_message())
        if isinstance(node, yaml.MappingNode):
            try:
                self._constructor.flatten_mapping(node)
            except yaml.MarkedYAMLError as exc:
                raise self.fail(line, f"invalid YAML merge: {exc.problem}") from None
            out = _Map(line)
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + self._base
                key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    shown = key if key is not None else "a collection"
                    raise self.fail(key_line, f"mapping keys must be plain names, got {shown!r}")
                if key in out:
                    raise self.fail(key_line, f"duplicate key {key!r} (first at line {out.key_lines[key]})")
                out[key] = self._convert(value_node, depth + 1)
                out.key_lines[key] = key_line
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = _Seq(line)
            for item in node.value:
                seq.append(self._convert(item, depth + 1))
                seq.item_lines.append(item.start_mark.line + self._base)
            return seq
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        # The common scalars of large generated files, converted as the constructor would, without it.
        tag, value = node.tag, node.value
        if tag == _STR and isinstance(node, yaml.ScalarNode):
            return value
        if tag == _INT and number_too_long(value):
            raise self.fail(node.start_mark.line + self._base, digits_message(value))
        if tag == _INT and _DECIMAL.fullmatch(value):
            return int(value)
        if tag == _FLOAT and _PLAIN_FLOAT.fullmatch(value):
            return float(value)
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self.fail(node.start_mark.line + self._base, f"invalid YAML value: {exc.problem}") from None
        except (ValueError, OverflowError) as exc:
            # A scalar that looks like a date or has an explicit tag, but is not one: `2001-13-45`.
            shown = _show(value)
            raise self.fail(node.start_mark.line + self._base, f"invalid YAML value {shown}: {exc}") from None

    # -- checks that read better before pydantic sees the data -----------------------------------

    def _check_top(self, data: _Map) -> None:
        if "version" not in data:
            raise self.fail(data.line, "version: missing; add `version: 1` at the top")
        version = data["version"]
        if version != 1 or isinstance(version, bool):
            raise self.fail(data.key_lines["version"], f"version: must be 1, got {_show(version)}")
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise self.fail(data.key_lines["seed"], f"seed: must be an integer, got {_show(seed)}")
        self._seed = seed
        if "name" not in data:
            data["name"] = Path(self.source).stem or "scenario"
            data.key_lines["name"] = data.line
        defaults = data.get("defaults")
        if defaults is not None and not isinstance(defaults, _Map):
            raise self.fail(data.key_lines["defaults"], f"defaults: must be a mapping, got {_show(defaults)}")
        for key in defaults or {}:
            if key not in SESSION_FIELDS:
                raise self.fail(
                    defaults.key_lines[key],
                    f"defaults: unknown session field {key!r}"
                    f"{_did_you_mean(key, SESSION_FIELDS)}; allowed: {', '.join(SESSION_FIELDS)}",
                )

    def check_defaults_copies(self, sessions: int) -> None:
        """Each session gets a copy of `defaults:`: a large one in many sessions is an alias in effect."""
        if not self._defaults:
            return
        values = _values(self._defaults)
        if values * sessions > MAX_ALIAS_VALUES:
            raise self.fail(
                self._defaults.line,
                f"defaults: {values:,} values copied into each of {sessions:,} sessions add more than "
                f"{MAX_ALIAS_VALUES:,}, the most defaults and aliases may add to a scenario",
            )

    def _merge_defaults(self, data: _Map) -> None:
        defaults = data.get("defaults")
        sessions = data.get("sessions")
        if not defaults or not isinstance(sessions, _Seq):
            return
        self._defaults = defaults
        self.check_defaults_copies(len(sessions))
        for i, session in enumerate(sessions):
            if isinstance(session, _Map):
                # A fresh copy per session: `{{ faker.email }}` in defaults gives each session its own value.
                sessions[i] = _merge(_copy(defaults), session)
        # What the file said, without line bookkeeping, for `scenarios show`.
        data["defaults"] = _plain(defaults)

    def _check_steps(self, data: _Map) -> None:
        sessions = data.get("sessions")
        if not isinstance(sessions, _Seq):
            return
        for i, session in enumerate(sessions):
            self._check_session_steps(session, i)

    def _check_session_steps(self, session: Any, i: int) -> None:
        steps = session.get("steps") if isinstance(session, _Map) else None
        if isinstance(steps, _Seq):
            for j, step in enumerate(steps):
                where = f"sessions[{i}].steps[{j}]"
                line = steps.item_lines[j]
                if isinstance(step, str) and step in STEP_KINDS:
                    raise self.fail(line, f"{where}: a step is a mapping; write `- {step}: {{}}`")
                if not isinstance(step, _Map) or len(step) != 1:
                    got = f"{len(step)} keys ({', '.join(step)})" if isinstance(step, _Map) else _show(step)
                    raise self.fail(
                        line,
                        f"{where}: a step is a mapping with exactly one key, got {got}; "
                        f"allowed: {', '.join(STEP_KINDS)}",
                    )
                (kind,) = step
                if kind not in STEP_KINDS:
                    raise self.fail(
                        step.key_lines[kind],
                        f"{where}: unknown step {kind!r}"
                        f"{_did_you_mean(kind, STEP_KINDS)}; allowed: {', '.join(STEP_KINDS)}",
                    )
                if step[kind] is None:
                    if kind == "wait":
                        raise self.fail(
                            step.key_lines[kind], f"{where}.wait: needs a duration; {DURATION_HELP}"
                        )
                    # `- commit:` with nothing after it means "with the defaults", like `- commit: {}`.
                    step[kind] = _Map(step.key_lines[kind])

    # -- faker -----------------------------------------------------------------------------------

    def _walk_strings(self, node: Any, path: tuple) -> None:
        if isinstance(node, _Map):
            for key, value in node.items():
                if isinstance(value, str):
                    node[key] = self._expand(value, node.key_lines[key], path + (key,))
                self._walk_strings(node[key], path + (key,))
        elif isinstance(node, _Seq):
            for i, value in enumerate(node):
                if isinstance(value, str):
                    node[i] = self._expand(value, node.item_lines[i], path + (i,))
                self._walk_strings(node[i], path + (i,))

    def _expand(self, text: str, line: int, path: tuple) -> Any:
        if "{{" not in text:
            return text
        matches = list(_EXPRESSION.finditer(text))
        where = _format_path(path)
        if not matches:
            raise self.fail(
                line, f"{where}: unclosed expression in {text!r}; write {{{{ faker.<provider> }}}}"
            )
        values = [self._fake(m.group(1), line, where) for m in matches]
        # A whole-value expression keeps the provider's type, so `lines_added: "{{ faker.pyint }}"` is an int.
        if len(matches) == 1 and matches[0].group(0) == text:
            return values[0]
        return _EXPRESSION.sub(lambda _m, it=iter(values): str(next(it)), text)

    def _fake(self, expression: str, line: int, where: str) -> Any:
        found = _FAKER_CALL.fullmatch(expression)
        if not found:
            raise self.fail(
                line,
                f"{where}: unsupported expression {{{{ {expression} }}}}; "
                "only {{ faker.<provider> }} is allowed, e.g. {{ faker.email }}",
            )
        provider = found.group(1)
        fake = self._get_faker()
        generator = fake.factories[0]
        method = (
            None
            if provider.startswith("_") or provider in _FAKER_NOT_PROVIDERS
            else getattr(generator, provider, None)
        )
        if not callable(method):
            names = [n for n in dir(generator) if not n.startswith("_") and n not in _FAKER_NOT_PROVIDERS]
            raise self.fail(
                line,
                f"{where}: unknown faker provider {provider!r}{_did_you_mean(provider, names)}; "
                "e.g. email, user_name, name, uuid4, company (see faker.readthedocs.io)",
            )
        try:
            value = method()
        except TypeError:
            raise self.fail(
                line,
                f"{where}: faker.{provider} needs arguments; only providers without arguments are supported",
            ) from None
        if isinstance(value, (str, int, float, bool)):
            return value
        return str(value)

    def _get_faker(self):
        if self._faker is None:
            # Imported here: faker is slow to import and most commands never need it.
            from faker import Faker

            self._faker = Faker("en_US")
            self._faker.seed_instance(self._seed)
        return self._faker

    # -- pydantic errors -> FILE:LINE messages ---------------------------------------------------

    def _explain(
        self, exc: ValidationError, data: Any, prefix: tuple = (), start_line: int = 1
    ) -> ScenarioError:
        """`data` is what was validated, found at `prefix` in the file (a session read on its own
        is at ("sessions", i)), starting at `line`."""
        located = []
        for order, error in enumerate(exc.errors(include_url=False)):
            missing = error["type"] == "missing"
            path, line, rest, inherited = _locate(data, error["loc"], missing, start_line)
            path = prefix + path
            # A missing field points at its parent's line, often earlier than the typo that caused it.
            located.append(((missing, line, order), line, path, rest, inherited, error))
        _, line, path, rest, inherited, error = min(located, key=lambda item: item[0])
        if rest:
            # A union (e.g. `text: true` or a string): say every shape that would have been accepted.
            alternatives = [e for _, _, p, r, _, e in located if p == path and r]
            message = _union_message(alternatives)
        else:
            message = _error_message(error, path)
        # An unknown field is reported on its parent, which is what lists the allowed ones.
        where = _format_path(path[:-1] if error["type"] == "extra_forbidden" and not rest else path)
        if inherited:
            where += " (set in defaults)"
        return self.fail(line, f"{where}: {message}" if where else message)

    def _check_span(self, session: Session, raw: _Map, index: int) -> None:
        """Every copy of a session ends within MAX_SPAN_SECONDS of the scenario start."""
        from claude_telemetry_cli.scenario.compile import session_length

        end = session.start_at + (session.repeat - 1) * session.repeat_every + session_length(session)
        if end > MAX_SPAN_SECONDS:
            raise self.fail(
                raw.line,
                f"sessions[{index}]: {'its last copy' if session.repeat > 1 else 'it'} ends "
                f"{end / 86_400:,.0f} days after the scenario "
                f"starts, more than {MAX_SPAN_SECONDS / 86_400:,.0f} days, the longest a scenario may span",
            )

    def _check_prices(self, scenario: Scenario, data: _Map) -> None:
        known = set(MODEL_PRICES) | set(scenario.prices)
        for i, session in enumerate(scenario.sessions):
            self._check_session_prices(session, data["sessions"][i], i, known)

    def _check_session_prices(self, session: Session, raw: _Map, index: int, known: set[str]) -> None:
        """An api_request with no cost_usd needs a model with a price; the error is at its model line."""
        for j, model in unpriced_steps(session, known):
            step = raw["steps"][j]["api_request"]
            raise self.fail(
                step.key_lines.get("model", raw["steps"].item_lines[j]),
                f"sessions[{index}].steps[{j}].api_request: unknown model {model!r} and no "
                f"cost_usd to report; known models: {', '.join(sorted(known))}; add cost_usd "
                "to the step or a `prices:` entry for the model",
            )


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
# Integers and floats Python reads exactly as YAML 1.1 does (no octal 012, no 1_000, no 1:30).
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)")
_PLAIN_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")
_EXPRESSION = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_FAKER_CALL = re.compile(r"faker\.([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?")
# Attributes of a Faker generator that are machinery, not providers of fake values.
_FAKER_NOT_PROVIDERS = frozenset(
    {
        "add_provider",
        "del_arguments",
        "format",
        "get_arguments",
        "get_formatter",
        "get_providers",
        "parse",
        "provider",
        "providers",
        "random",
        "seed",
        "seed_instance",
        "seed_locale",
        "set_arguments",
        "set_formatter",
        "binary",
        "zip",
        "tar",
        "image",
        "json",
        "csv",
        "tsv",
        "psv",
        "dsv",
        "fixed_width",
        "xml",
        "enum",
        "pystruct",
        "pyiterable",
        "pylist",
        "pytuple",
        "pyset",
        "pydict",
        "pyobject",
    }
)


def _copy(node: Any) -> Any:
    if isinstance(node, _Map):
        out = _Map(node.line)
        for key, value in node.items():
            out[key] = _copy(value)
        out.key_lines = dict(node.key_lines)
        out.inherited = set(node.inherited)
        return out
    if isinstance(node, _Seq):
        seq = _Seq(node.line)
        seq.extend(_copy(v) for v in node)
        seq.item_lines = list(node.item_lines)
        return seq
    return node


def _merge(base: _Map, over: _Map) -> _Map:
    """`over` wins; mappings on both sides (user:) merge key by key; lists are replaced whole."""
    out = _Map(over.line)
    for source in (base, over):
        for key, value in source.items():
            if isinstance(value, _Map) and isinstance(out.get(key), _Map):
                out[key] = _merge(out[key], value)
            else:
                out[key] = value
                _mark_inherited(value, source is base)
            out.key_lines[key] = source.key_lines[key]
            if source is base:
                out.inherited.add(key)
            else:
                out.inherited.discard(key)
    return out


def _mark_inherited(node: Any, inherited: bool) -> None:
    if isinstance(node, _Map) and inherited:
        node.inherited = set(node)
        for value in node.values():
            _mark_inherited(value, inherited)


def _values(node: Any) -> int:
    """Values in converted data, aliases expanded: what copying it costs."""
    if isinstance(node, dict):
        return 1 + sum(_values(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(_values(v) for v in node)
    return 1


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _locate(data: Any, loc: tuple, missing: bool, line: int = 1) -> tuple[tuple, int, tuple, bool]:
    """Follow a pydantic error location through the data: path found, its line, unmatched tail, and
    whether the value came from `defaults:`."""
    line = getattr(data, "line", line)
    node = data
    path: list = []
    inherited = False
    for i, element in enumerate(loc):
        if isinstance(node, _Map) and element in node:
            line = node.key_lines[element]
            inherited = inherited or element in node.inherited
            node = node[element]
        elif isinstance(node, _Seq) and isinstance(element, int) and 0 <= element < len(node):
            line = node.item_lines[element]
            node = node[element]
        elif missing and isinstance(node, _Map) and i == len(loc) - 1:
            # A missing field: the path names it, the line is its parent's.
            path.append(element)
            return tuple(path), line, (), inherited
        else:
            return tuple(path), line, tuple(loc[i:]), inherited
        path.append(element)
    return tuple(path), line, (), inherited


def _format_path(path: tuple) -> str:
    out = ""
    for element in path:
        out += f"[{element}]" if isinstance(element, int) else (f".{element}" if out else str(element))
    return out


def _show(value: Any, limit: int = 60) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(str(value)) if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


_PATTERN_MEANING = {
    "email": "an email address like dev@example.com",
    "organization_id": "a UUID",
    "account_uuid": "a UUID",
    "account_id": "a tagged account id like user_01AbCd...",
    "id": "64 lowercase hex characters",
    "app_version": "a version like 2.1.197",
    "id_hash": "16 lowercase hex characters",
}

_EXPECTED = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "string_too_short": "a non-empty string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "none_required": "null",
}


def _error_message(error: dict, path: tuple) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    got = f", got {_show(value)}"
    if kind == "extra_forbidden":
        allowed = _fields_at(path[:-1]) or []
        suggestion = _did_you_mean(str(path[-1]), allowed)
        return f"unknown field {path[-1]!r}{suggestion}; allowed: {', '.join(allowed)}"
    if kind == "missing":
        return "required field is missing"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[
            kind
        ]
        bound = ctx.get({">=": "ge", ">": "gt", "<=": "le", "<": "lt"}[op])
        return f"must be {op} {bound}{got}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}{got}"
    if kind == "string_pattern_mismatch":
        field = next((p for p in reversed(path) if isinstance(p, str)), "")
        return f"must be {_PATTERN_MEANING.get(field, 'of the form ' + str(ctx.get('pattern')))}{got}"
    if kind == "too_short":
        count = ctx.get("min_length")
        return f"needs at least {count} {'entry' if count == 1 else 'entries'}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in _EXPECTED:
        hint = " (quote it in YAML)" if kind == "string_type" and isinstance(value, (int, float)) else ""
        return f"must be {_EXPECTED[kind]}{got}{hint}"
    message = str(error["msg"])
    return f"{message[:1].lower()}{message[1:]}{got}"


def _union_message(errors: list[dict]) -> str:
    expected = []
    for error in errors:
        if error["type"] == "literal_error":
            text = str((error.get("ctx") or {}).get("expected"))
        else:
            text = _EXPECTED.get(error["type"], str(error["msg"]).lower())
        if text not in expected:
            expected.append(text)
    return f"must be {' or '.join(expected)}, got {_show(errors[0].get('input'))}"


def _fields_at(path: tuple) -> list[str] | None:
    """The field names of the model found at `path` in a Scenario, for 'allowed: ...' hints."""
    annotation: Any = Scenario
    for element in path:
        annotation = _unwrap(annotation)
        if isinstance(element, int):
            args = typing.get_args(annotation)
            if not args:
                return None
            annotation = args[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(element)
            if field is None:
                return None
            annotation = field.annotation
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            return None
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or origin is types.UnionType:
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation
