"""YAML files read with their line numbers, so every problem in a definition is reported as `file:line: message`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import DefinitionError

Location = tuple[str | int, ...]


@dataclass
class Source:
    """One parsed YAML document: its data and the line of every mapping key and list item in it."""

    path: Path
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line(self, location: Sequence[str | int]) -> int:
        """The line of the deepest part of `location` present in the file (1 for the document itself)."""
        loc = tuple(location)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)

    def problem(self, location: Sequence[str | int], message: str) -> str:
        return f"{self.path}:{self.line(location)}: {message}"


class _Loader(yaml.SafeLoader):
    """The safe loader, with a date that is not in the calendar (`earliest: 2027-02-30`, which YAML reads as a
    date) reported at its line like any other malformed value, instead of escaping as a bare `ValueError`."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a real calendar date ({exc})", node.start_mark
            ) from exc


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def read_yaml(path: Path) -> Source:
    """Parses one YAML file; a syntax error becomes a `DefinitionError` pointing at its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError([f"{path}:1: cannot read file: {exc.strerror}"]) from exc
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise DefinitionError([f"{path}:{line}: malformed YAML: {exc.problem or exc.context}"]) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError([f"{path}:1: malformed YAML: {exc}"]) from exc
    finally:
        loader.dispose()
    source = Source(path=path, data=data)
    if node is not None:
        duplicates: list[str] = []
        _record_lines(node, (), source.lines, duplicates, depth=0)
        if duplicates:
            raise DefinitionError([f"{path}:{problem}" for problem in duplicates])
    return source


def _record_lines(
    node: yaml.Node, location: Location, lines: dict[Location, int], duplicates: list[str], depth: int
) -> None:
    """Records the line of every key and item; a key given twice in one mapping is a problem (YAML would
    silently keep the last one, so a second definition of an action would replace the first)."""
    if depth > 64:  # deeper than any definition; also stops alias loops
        return
    lines.setdefault(location, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            line = key_node.start_mark.line + 1
            if key in seen:
                where = ".".join(str(part) for part in location) or "document"
                duplicates.append(f"{line}: {where}: key {key!r} is given twice (first at line {seen[key]})")
                continue
            seen[key] = line
            lines[(*location, key)] = line
            _record_lines(value_node, (*location, key), lines, duplicates, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*location, index), lines, duplicates, depth + 1)


def pydantic_problems(source: Source, exc: Any, prefix: Location = ()) -> list[str]:
    """Turns a pydantic `ValidationError` on `source.data` into `file:line: message` lines."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = (*prefix, *(part for part in error["loc"] if not _is_union_tag(part)))
        where = ".".join(str(part) for part in loc) or "document"
        problems.append(source.problem(loc, f"{where}: {_definition_message(error)}"))
    return problems


def _is_union_tag(part: Any) -> bool:
    """Pydantic adds the member type to the location of a union's errors (`str`, `list[str]`)."""
    return isinstance(part, str) and (
        "[" in part or part.startswith("function-") or part in ("str", "int", "float", "bool", "list", "dict")
    )


def _definition_message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known key here"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "string_type" and isinstance(error.get("input"), bool):
        return "is true/false, not text: quote yes and no (\"yes\"), which YAML reads as booleans"
    return str(error["msg"])
