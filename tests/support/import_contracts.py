"""An import-linter contract on part of an external package, which import-linter sees only whole:
to it, opentelemetry.sdk and opentelemetry.proto are both `opentelemetry`."""

from __future__ import annotations

import re

from importlinter import Contract, ContractCheck, fields, output

_FROM = re.compile(r"from\s+([\w.]+)\s+import\s+\(?\s*(.*)")
_IMPORT = re.compile(r"import\s+(.+)")


class ExternalSubpackageContract(Contract):
    """Only `allowed_importers` (and the modules inside them) import `modules`, each a dotted name
    inside an external package, e.g. opentelemetry.sdk; the import statements themselves decide."""

    type_name = "external_subpackage"

    modules = fields.ListField(subfield=fields.StringField())
    allowed_importers = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        allowed = tuple(self.allowed_importers)  # type: ignore[arg-type]
        illegal: list[tuple[str, int, str]] = []
        for module in self.modules:  # type: ignore[attr-defined]
            top = module.split(".")[0]
            if top not in graph.modules:
                continue
            for importer in sorted(graph.find_modules_that_directly_import(top)):
                if any(importer == a or importer.startswith(f"{a}.") for a in allowed):
                    continue
                for detail in graph.get_import_details(importer=importer, imported=top):
                    if any(_inside(name, module) for name in _imported(detail["line_contents"])):
                        illegal.append((importer, detail["line_number"], detail["line_contents"]))
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, line_number, line in check.metadata["illegal"]:
            output.print_error(f"{importer}:{line_number}: {line}", bold=False)
            output.new_line()


def _imported(line: str) -> list[str]:
    """The modules an import statement may name: `from a import b` may import a or a.b."""
    statement = line.strip()
    if match := _FROM.match(statement):
        package, names = match.groups()
        return [package, *(f"{package}.{n.split()[0]}" for n in names.rstrip(")").split(",") if n.strip())]
    if match := _IMPORT.match(statement):
        return [name.split()[0] for name in match.group(1).split(",") if name.strip()]
    return []


def _inside(name: str, module: str) -> bool:
    return name == module or name.startswith(f"{module}.")
