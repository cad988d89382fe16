"""Loading definitions from disk: every form and workflow, checked completely, compiled once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from engine.definitions.checks import WorkflowChecker
from engine.definitions.compiled import CompiledWorkflow, compile_workflow
from engine.definitions.forms import CompiledForm, FormSpec
from engine.definitions.source import Source, pydantic_problems, read_yaml
from engine.definitions.workflow import WorkflowSpec
from engine.errors import DefinitionError, NotFound


def shipped_forms_dir() -> Path:
    import forms

    return Path(forms.__file__).resolve().parent


def shipped_workflows_dir() -> Path:
    import workflows

    return Path(workflows.__file__).resolve().parent


@dataclass
class FileReport:
    """The outcome of checking one file: a one-line summary when it is sound, else its problems."""

    path: Path
    kind: str
    summary: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Abilities:
    """What a role may do (`Catalogue.abilities`)."""

    look_up: bool
    work_on_cases: bool
    open_case: bool
    ways_in: tuple[str, ...]  # the other ways in (`open.variants`) it may open a case by
    read_figures: bool


@dataclass
class Catalogue:
    """Every loaded form and compiled workflow version, shared by all cases and threads."""

    forms: dict[str, CompiledForm]
    workflows: dict[tuple[str, int], CompiledWorkflow]
    #: The definition files it was loaded from, to load it again in another process (empty: the shipped ones);
    #: None when it was not loaded by `load_catalogue`.
    origin: tuple[str, ...] | None = None

    def workflow(self, workflow_id: str, version: int | None = None) -> CompiledWorkflow:
        """A workflow version; the newest when `version` is None."""
        if version is None:
            versions = [v for (i, v) in self.workflows if i == workflow_id]
            if not versions:
                raise NotFound(f"unknown workflow {workflow_id!r}")
            version = max(versions)
        found = self.workflows.get((workflow_id, version))
        if found is None:
            raise NotFound(f"unknown workflow {workflow_id!r} version {version}")
        return found

    def latest(self) -> list[CompiledWorkflow]:
        ids = sorted({i for (i, _) in self.workflows})
        return [self.workflow(i) for i in ids]

    @property
    def lookup_roles(self) -> frozenset[str]:
        """The roles the delivery lookup answers, in any loaded pathway."""
        return frozenset(r for w in self.latest() for r in w.spec.lookup_roles)

    @property
    def figure_roles(self) -> frozenset[str]:
        """The roles that may read the de-identified figures, in any loaded pathway."""
        return frozenset(r for w in self.latest() for r in w.spec.figure_roles)

    @property
    def states(self) -> frozenset[str]:
        """Every state of any loaded version of a pathway (what a list may be filtered by)."""
        return frozenset(s for w in self.workflows.values() for s in w.states)

    @property
    def phases(self) -> frozenset[str]:
        """Every phase of any loaded version of a pathway."""
        return frozenset(p for w in self.workflows.values() for p in w.spec.phases)

    @property
    def case_roles(self) -> frozenset[str]:
        """The roles that work on cases (and may see some of a case), in any loaded version of a pathway."""
        return frozenset(r for w in self.workflows.values() for r in w.spec.roles)

    def abilities(self, role: str) -> Abilities:
        """What a role may do in the newest pathway, for the pages' menus and buttons: the engine asks again (and
        decides) when the thing is done."""
        workflow = self.latest()[0]
        return Abilities(
            look_up=role in self.lookup_roles, work_on_cases=role in self.case_roles,
            open_case=role in workflow.open.roles,
            ways_in=tuple(name for name, way in workflow.variants.items() if role in way.opening.roles),
            read_figures=role in self.figure_roles,
        )

    def form(self, form_id: str) -> CompiledForm:
        found = self.forms.get(form_id)
        if found is None:
            raise NotFound(f"unknown form {form_id!r}")
        return found


def _kind(source: Source) -> str:
    data = source.data
    if isinstance(data, dict) and "fields" in data and "states" not in data:
        return "form"
    return "workflow"


def _load_form(source: Source) -> tuple[CompiledForm | None, list[str]]:
    duplicated = _duplicate_field_ids(source)
    if duplicated:
        return None, duplicated
    try:
        spec = FormSpec.model_validate(source.data)
    except ValidationError as exc:
        return None, pydantic_problems(source, exc)
    if spec.id != source.path.stem:
        return None, [source.problem(("id",), f"form id {spec.id!r} does not match the file name")]
    return CompiledForm(spec), []


def _duplicate_field_ids(source: Source) -> list[str]:
    """A field id given twice, reported at the second one (the model would only say "duplicate" at line 1)."""
    fields = source.data.get("fields") if isinstance(source.data, dict) else None
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, field_data in enumerate(fields if isinstance(fields, list) else []):
        field_id = field_data.get("id") if isinstance(field_data, dict) else None
        if not isinstance(field_id, str):
            continue
        if field_id in seen:
            line = source.line(("fields", seen[field_id], "id"))
            message = f"fields.{index}.id: field id {field_id!r} is used twice (first at line {line})"
            problems.append(source.problem(("fields", index, "id"), message))
        seen.setdefault(field_id, index)
    return problems


def _load_workflow(
    source: Source, forms: dict[str, CompiledForm]
) -> tuple[CompiledWorkflow | None, list[str]]:
    try:
        spec = WorkflowSpec.model_validate(source.data)
    except ValidationError as exc:
        return None, pydantic_problems(source, exc)
    problems = WorkflowChecker(spec, source, forms).run()
    if problems:
        return None, problems
    return compile_workflow(spec, source.path, forms), []


def _expand(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    return found


def check_files(paths: Iterable[Path] | None = None) -> tuple[list[FileReport], Catalogue]:
    """Checks definition files (default: everything shipped). Workflows resolve forms from the files given
    first, then from the shipped forms. Returns a report per file and what loaded cleanly."""
    given = _expand(paths) if paths is not None else _expand([shipped_forms_dir(), shipped_workflows_dir()])
    reports: list[FileReport] = []
    sources: list[Source] = []
    for path in given:
        try:
            sources.append(read_yaml(path))
        except DefinitionError as exc:
            reports.append(FileReport(path, "file", problems=exc.problems))
    forms: dict[str, CompiledForm] = {}
    form_sources = [s for s in sources if _kind(s) == "form"]
    given_form_paths = {s.path.resolve() for s in form_sources}
    if paths is not None:  # forms a given workflow may use without the caller naming them
        for path in _expand([shipped_forms_dir()]):
            if path.resolve() not in given_form_paths and path.stem not in {s.path.stem for s in form_sources}:
                try:
                    form, _ = _load_form(read_yaml(path))
                except DefinitionError:  # a broken shipped form is reported by `posc validate` on its own
                    continue
                if form is not None:
                    forms[form.id] = form
    for source in form_sources:
        form, problems = _load_form(source)
        if form is not None:
            forms[form.id] = form
            reports.append(FileReport(source.path, "form", f"form {form.id}: {len(form.spec.fields)} fields"))
        else:
            reports.append(FileReport(source.path, "form", problems=problems))
    workflows: dict[tuple[str, int], CompiledWorkflow] = {}
    for source in (s for s in sources if _kind(s) == "workflow"):
        workflow, problems = _load_workflow(source, forms)
        if workflow is not None and (workflow.id, workflow.version) in workflows:
            problems = [source.problem(("version",), f"{workflow.id} version {workflow.version} is defined twice")]
            workflow = None
        if workflow is not None:
            workflows[(workflow.id, workflow.version)] = workflow
            summary = (
                f"workflow {workflow.id} v{workflow.version}: {len(workflow.states)} states, "
                f"{len(workflow.actions)} actions, {len(workflow.deadlines)} deadlines"
            )
            reports.append(FileReport(source.path, "workflow", summary))
        else:
            reports.append(FileReport(source.path, "workflow", problems=problems))
    return reports, Catalogue(forms, workflows)


def load_catalogue(paths: Iterable[Path] | None = None) -> Catalogue:
    """Loads and checks every definition; any problem anywhere raises `DefinitionError` with all of them."""
    given = None if paths is None else [Path(p) for p in paths]
    reports, catalogue = check_files(given)
    problems = [p for r in reports for p in r.problems]
    if problems:
        raise DefinitionError(problems)
    catalogue.origin = () if given is None else tuple(str(p.resolve()) for p in given)
    return catalogue
