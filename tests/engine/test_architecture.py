"""The layering rules of DESIGN.md, enforced: the engine never imports the web or CLI stack, only the engine
assigns a case's state, and domain code never reads the system clock."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_ENGINE = ("fastapi", "starlette", "typer", "uvicorn", "api")


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_imports_no_web_or_cli_stack() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & set(FORBIDDEN_IN_ENGINE))
        for path in python_files("engine")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_engine_assigns_a_case_state() -> None:
    offenders = []
    for folder in ("api", "forms", "workflows"):
        for path in python_files(folder):
            for node in ast.walk(ast.parse(path.read_text())):
                targets = node.targets if isinstance(node, ast.Assign) else []
                if any(isinstance(t, ast.Attribute) and t.attr == "state" for t in targets):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_domain_code_never_reads_the_system_clock() -> None:
    offenders = []
    for path in python_files("engine"):
        if path.name == "clock.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today") and isinstance(
                node.value, ast.Name
            ) and node.value.id in ("datetime", "date"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_no_module_reads_the_environment_but_settings() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("engine", "api")
        for path in python_files(folder)
        if ("os.environ" in path.read_text() or "getenv" in path.read_text())
        and path.relative_to(ROOT).as_posix() != "engine/settings.py"  # the one module that does
    ]
    assert offenders == []


def test_the_engine_exports_exactly_what_it_loads_lazily() -> None:
    import engine

    assert set(engine._EXPORTS) == set(engine.__all__)
    for name in engine.__all__:
        assert getattr(engine, name) is not None


def test_no_module_imports_another_modules_private_names() -> None:
    """A name starting with `_` is its module's own: sharing it means it belongs in a module both can use (the case
    log, not `cases.py`, owns the statements that write a case)."""
    offenders = []
    for folder in ("engine", "api"):
        for path in python_files(folder):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("engine", "api")):
                    private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                    if private:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {private} from {node.module}")
    assert offenders == []


def test_every_write_to_a_case_goes_through_the_case_log() -> None:
    """Only `engine/caselog.py` inserts events or updates a case row; nobody else holds the statements."""
    offenders = []
    for path in python_files("engine"):
        if path.name == "caselog.py" or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("insert", "update"):
                target = node.args[0] if node.args else None
                if isinstance(target, ast.Name) and target.id in ("CASES", "EVENTS"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_outside_layers_use_the_engines_face_only() -> None:
    """`api/` imports `engine` (its `__init__`), never a module inside it: what the engine offers is one list, and
    its modules can be reorganised without touching the ways in."""
    offenders = []
    for path in python_files("api"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                else [a.name for a in node.names] if isinstance(node, ast.Import) else []
            )
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {m}" for m in modules if m.startswith("engine.")]
    assert offenders == []


#: What a test may take from the demo: the demo itself, for the tests that check it or run on it.
THE_DEMO = {"load_demo", "not_loaded", "DemoUser", "DEMO_CASES", "JURISDICTION"}


def test_tests_build_their_own_data_not_the_demos() -> None:
    """Sample organisations, actors and form data come from `tests/factories.py`; only the demo itself (loading it,
    its cases) is imported from `api/demo.py`, by the tests that check the demo or run on it."""
    offenders = []
    for folder in ("tests", "bench"):
        for path in python_files(folder):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "api.demo":
                    offenders += [
                        f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}"
                        for alias in node.names if alias.name not in THE_DEMO
                    ]
    assert offenders == []
