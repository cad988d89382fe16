"""The catalogue of Gherkin steps analysts may use, read from the step library's own source (`tests/steps`), so it
cannot drift from the code: each step's pattern and the example its docstring gives."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

KEYWORDS = ("given", "when", "then")


@dataclass(frozen=True)
class StepDoc:
    keyword: str
    pattern: str
    regex: bool
    example: str
    module: str

    @property
    def readable(self) -> str:
        """The pattern as an analyst reads it: `{who} takes {action}`."""
        if not self.regex:
            return self.pattern
        text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", self.pattern)
        return text.removeprefix("^").removesuffix("$")


def steps_folder() -> Path:
    return Path(__file__).resolve().parents[1] / "tests" / "steps"


def read_catalogue(folder: Path | None = None) -> list[StepDoc]:
    folder = folder or steps_folder()
    found: list[StepDoc] = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            example = (ast.get_docstring(node) or "").strip().splitlines()
            for decorator in node.decorator_list:
                step = _step(decorator)
                if step is not None:
                    keyword, pattern, regex = step
                    found.append(StepDoc(keyword, pattern, regex, example[0] if example else "", path.stem))
    return found


def module_titles(folder: Path | None = None) -> dict[str, str]:
    folder = folder or steps_folder()
    titles = {}
    for path in sorted(folder.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or path.stem
        titles[path.stem] = doc.strip().splitlines()[0]
    return titles


def _step(decorator: ast.expr) -> tuple[str, str, bool] | None:
    if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Name):
        return None
    if decorator.func.id not in KEYWORDS or not decorator.args:
        return None
    argument = decorator.args[0]
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return decorator.func.id, argument.value, False
    if isinstance(argument, ast.Call) and isinstance(argument.func, ast.Attribute) and argument.args:
        inner = argument.args[0]
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            return decorator.func.id, inner.value, argument.func.attr == "re"
    return None
