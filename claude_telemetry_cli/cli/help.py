"""How `--help` reads: plain metavars, usage lines without braces, paragraphs that reflow to any width.

Typer renders a parameter's Python type (`<bool>`, `<list[str]>`, `<int range>`) and wraps a required
argument's usage in braces (`{SCENARIO...}...`); a docstring's hard line breaks would stay where the
source put them, ragged at any other width. The command and group classes here give every command
the same plain rendering; `tests/cli/test_help.py` holds every command's help to a snapshot.
"""

from __future__ import annotations

import inspect
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["PlainCommand", "PlainGroup", "reflow"]

_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH"}


def reflow(doc: str | None) -> str | None:
    """Join the lines of each prose paragraph, so the terminal wraps them at its width. A paragraph
    whose lines are indented or bulleted ("- ": examples, lists) keeps its lines; a line that begins
    with an option (--timeout) is prose."""
    if doc is None:
        return None
    paragraphs = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        lines = paragraph.split("\n")
        if any(line.startswith((" ", "- ", "\b")) for line in lines):
            paragraphs.append(paragraph)
        else:
            paragraphs.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


class _PlainOption(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar or None
        if self.is_flag or self.count:
            return None
        label = self.display_type(ctx).strip("<>").removesuffix(" range")
        if label.startswith("list["):
            label = label[5:-1]
        return _TYPE_NAMES.get(label.lower(), label.upper())


class _PlainArgument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the metavar in the name column says it

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.display_name_raw
        return [name if self.required else f"[{name}]"]


def _plain_params(params: list) -> list:
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _PlainOption
        elif type(param) is TyperArgument:
            param.__class__ = _PlainArgument
            if param.metavar is None:
                param.metavar = (param.name or "").upper()
            if param.nargs != 1 and not param.metavar.endswith("..."):
                param.metavar += "..."
    return params


class PlainCommand(TyperCommand):
    def __init__(self, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, help=reflow(help), **kwargs)

    def get_params(self, ctx: Any) -> list:
        # Includes --help and the completion options, which are made when asked for.
        return _plain_params(super().get_params(ctx))


class PlainGroup(TyperGroup):
    def __init__(self, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, help=reflow(help), **kwargs)

    def get_params(self, ctx: Any) -> list:
        return _plain_params(super().get_params(ctx))
