"""The catalogue of Gherkin steps analysts may use, read from the step library's own source (`tests/steps`), so it
cannot drift from the code: each step's pattern and the example its docstring gives."""

from __future__ import annotations

import ast
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine import Catalogue

KEYWORDS = ("given", "when", "then")


@dataclass(frozen=True)
class StepDoc:
    keyword: str
    pattern: str
    regex: bool
    example: str
    module: str
    #: How the catalogue shows a step whose pattern is made from a table (the deeds): `{who} {does_what}`.
    shown: str = ""

    @property
    def parameters(self) -> list[str]:
        """The names of the values a line gives the step (`who`, `action`...)."""
        return [a or b for a, b in re.findall(r"\{(\w+)(?::[^}]*)?\}|\(\?P<(\w+)>", self.pattern)]

    @property
    def readable(self) -> str:
        """The pattern as an analyst reads it: `{who} takes {action}`."""
        if self.shown:
            return self.shown
        if not self.regex:
            return self.pattern
        return _readable(self.pattern.removeprefix("(?i)").removeprefix("^").removesuffix("$"))


def _readable(pattern: str) -> str:
    """A regular expression as words: a named group is `{name}`, an optional group `[words]`, alternatives
    `a / b`, lookarounds dropped (`(?:an escalation for {escalated} / {name})`)."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
        elif char == "(":
            j = _closing(pattern, i)
            inner, optional = pattern[i + 1:j - 1], pattern[j:j + 1] == "?"
            if inner.startswith("?P<"):
                out.append("{" + inner[3:inner.index(">")] + "}")
            elif inner.startswith(("?=", "?!", "?<=", "?<!")):
                pass
            else:
                words = _readable(inner.removeprefix("?:"))
                out.append(f"[{words}]" if optional else f"({words})" if "/" in words else words)
            i = j + (1 if optional else 0)
        elif char == "|":
            out.append(" / ")
            i += 1
        elif char == "[":  # a class of characters: what it stands for is in the example
            j = pattern.index("]", i + 2) + 1
            out.append("…")
            i = j + (1 if pattern[j:j + 1] in "+*?" and j < len(pattern) else 0)
            i += 1 if pattern[i:i + 1] == "?" else 0
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _closing(pattern: str, start: int) -> int:
    """The index just past the parenthesis that closes the one at `start` (escapes and [classes] skipped)."""
    depth, j, in_class = 0, start, False
    while j < len(pattern):
        char = pattern[j]
        if char == "\\":
            j += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in "()":
            depth += 1 if char == "(" else -1
            if depth == 0:
                return j + 1
        j += 1
    return len(pattern)


def steps_folder() -> Path:
    return Path(__file__).resolve().parents[1] / "tests" / "steps"


def read_catalogue(folder: Path | None = None) -> list[StepDoc]:
    folder = folder or steps_folder()
    found: list[StepDoc] = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)
                     and isinstance(n.value.value, str)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            lines = [line.strip() for line in (ast.get_docstring(node) or "").strip().splitlines()]
            examples = [line for line in lines if line.partition(" ")[0] in ("Given", "When", "Then")]
            for decorator in node.decorator_list:
                step = _step(decorator, constants)
                if step is not None:
                    keyword, pattern, regex = step
                    doc = StepDoc(keyword, pattern, regex, "", path.stem)
                    # The docstring's example of this very step (a function may serve several phrasings).
                    own = next((e for e in examples if example_fits(doc, e)), lines[0] if lines else "")
                    found.append(StepDoc(keyword, pattern, regex, own, path.stem))
        deeds = _literal(tree, "DEEDS")
        if deeds:
            found += [step for step, _ in deed_steps(read_deeds(deeds))]
    return found


def read_deeds(table: Mapping[str, Iterable[str]]) -> list[Deed]:
    """The deeds of a `DEEDS` table (action: its phrases), in the table's order."""
    return [Deed.read(action, phrase) for action, phrases in table.items() for phrase in phrases]


def deeds(folder: Path | None = None) -> list[Deed]:
    """The deeds of the step library (`DEEDS` in `deeds.py`)."""
    path = (folder or steps_folder()) / "deeds.py"
    return read_deeds(_literal(ast.parse(path.read_text(encoding="utf-8")), "DEEDS") or {})


def _literal(tree: ast.Module, name: str) -> dict[str, list[str]]:
    """A module-level literal assigned to `name` (`WHO = {...}`), or {} when there is none."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == name:
            return dict(ast.literal_eval(value))
    return {}


@dataclass(frozen=True)
class Deed:
    """One way of saying an action in plain words (`DEEDS` in the step library's `deeds.py`):
    `admits|admitted [the parent] to treatment` is the present and the past participle of the verb, the object in
    brackets (what the passive makes the subject) and the rest. A phrase that starts `the parent:` has that subject
    whoever records it: the action's usual actor takes it."""

    action: str
    present: str
    participle: str
    obj: str
    rest: str
    subject: str | None = None

    @classmethod
    def read(cls, action: str, phrase: str) -> Deed:
        subject, _, said = phrase.rpartition(":")
        found = re.fullmatch(r"\s*(\S+)\|(\S+)(?: \[([^\]]+)\])?(.*)", said)
        if found is None:
            raise ValueError(f"{action}: {phrase!r} is not `present|participle [object] rest`")
        present, participle, obj, rest = found.groups()
        return cls(action, present, participle, obj or "", rest.strip(), subject.strip() or None)

    def said(self, form: str) -> str | None:
        """The deed in one of `DEED_FORMS` (None where the form needs an object and the phrase has none)."""
        if form.startswith("{obj}") and not self.obj:  # the passive makes the object its subject
            return None
        text = form.format(who="{who}", present=self.present, participle=self.participle, obj=self.obj,
                           rest=self.rest, infinitive=self.infinitive)
        return re.sub(r"\s+", " ", text).strip()

    @property
    def infinitive(self) -> str:
        """The verb without its -s (`notifies`: `notify`, `discharges`: `discharge`), for `tries to` and `may`."""
        if self.present.endswith("ies"):
            return self.present[:-3] + "y"
        if self.present.endswith(("sses", "shes", "ches", "xes")):
            return self.present[:-2]
        return self.present.removesuffix("s")


#: The grammatical forms of a deed: keyword, the words (`{who}` the person, if the form names one), and how the
#: catalogue calls the part that names the action. Active and passive; Then asks the history.
DEED_FORMS: tuple[tuple[str, str, str], ...] = (
    ("when", "{who} {present} {obj} {rest}", "does_what"),
    ("when", "{obj} is {participle} {rest} by {who}", "what_is_done"),
    ("when", "{obj} is {participle} {rest}", "what_is_done"),
    ("given", "{who} has {participle} {obj} {rest}", "has_done_what"),
    ("given", "{who} {participle} {obj} {rest}", "did_what"),
    ("given", "{obj} has been {participle} {rest} by {who}", "what_has_been_done"),
    ("given", "{obj} was {participle} {rest} by {who}", "what_was_done"),
    ("given", "{obj} has been {participle} {rest}", "what_has_been_done"),
    ("given", "{obj} was {participle} {rest}", "what_was_done"),
    ("then", "{obj} has been {participle} {rest} by {who}", "what_has_been_done"),
    ("then", "{obj} has been {participle} {rest}", "what_has_been_done"),
    ("then", "{obj} has not been {participle} {rest}", "what_has_not_been_done"),
    ("when", "{who} tries to {infinitive} {obj} {rest}", "tries_to_do_what"),
    ("then", "{who} may {infinitive} {obj} {rest}", "may_do_what"),
    ("then", "{who} may not {infinitive} {obj} {rest}", "may_not_do_what"),
)
#: The catalogue's example of each form, without and with a table (`features/in_plain_words.feature` uses each).
DEED_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("When the treatment provider admits the parent to treatment",
     "When the cps worker schedules the planning meeting with: | meeting_date | 10 days before the due date |"),
    ("When the birth is recorded by the hospital",
     "When the birth is recorded by the hospital with: | born_at | today at 06:40 |"),
    ("When the parent is referred to treatment",
     "When the planning meeting is scheduled with: | meeting_date | 12 days before the due date |"),
    ("Given the prenatal clinic has referred the parent to treatment",
     "Given the cps worker has scheduled the planning meeting with: | meeting_date | 20 days before the due date |"),
    ("Given the hospital recorded the birth",
     "Given the hospital recorded the birth with: | born_at | today at 00:40 |"),
    ("Given the parent has been admitted to treatment by the treatment provider",
     "Given the birth has been recorded by the hospital with: | gestational_weeks | 35 |"),
    ("Given the parent was admitted to treatment by the treatment provider",
     "Given the birth was recorded by the hospital with: | born_at | today at 02:15-05:00 |"),
    ("Given the consent has been recorded",
     "Given the identification has been corrected with: | last_name | Rivera-Diaz |"),
    ("Given the birth was recorded",
     "Given the planning meeting was scheduled with: | meeting_date | 15 days before the due date |"),
    ("Then the parent has been admitted to treatment by the treatment provider", ""),
    ("Then the birth has been recorded", ""),
    ("Then the plan has not been updated", ""),
    ("When the hospital tries to discharge the infant",
     "When the peer mentor tries to record a follow-up contact with: | contact_type | home_visit |"),
    ("Then the hospital may notify cps", ""),
    ("Then the peer mentor may not admit the parent to treatment", ""),
)


def deed_steps(deeds: list[Deed]) -> list[tuple[StepDoc, dict[str, Deed]]]:
    """The steps the deeds make, one per form and with or without a table (`... with:`), each with what its words
    mean: the lower-case deed to the action."""
    made = []
    for (keyword, form, name), examples in zip(DEED_FORMS, DEED_EXAMPLES, strict=True):
        active = form.startswith("{who}")
        words: dict[str, Deed] = {}
        for deed in deeds:
            if deed.subject is not None and active:
                text = deed.said(form.replace("{who} ", ""))
                if text is not None and keyword != "then":
                    words.setdefault(f"{deed.subject} {text}".lower(), deed)
                continue
            if not active and not deed.obj:
                continue
            text = deed.said(form.replace("{who} ", "").replace(" by {who}", ""))
            if text is not None:
                words.setdefault(text.lower(), deed)
        subjects = {w for w, d in words.items() if d.subject is not None and w.startswith(f"{d.subject.lower()} ")}
        alternatives = "|".join(_escape(w) for w in sorted(words, key=len, reverse=True))
        if "by {who}" in form:
            pattern = f"(?P<deed>{alternatives}) by (?P<who>{_PERSON}?)"
        elif active:
            named = "|".join(_escape(w) for w in sorted(set(words) - subjects, key=len, reverse=True))
            own = "|".join(_escape(w) for w in sorted(subjects, key=len, reverse=True))
            # The parent signs the consent (at the prenatal clinic, or: recorded by the prenatal clinic): first, so
            # that "the parent" is not read as a person who acts.
            pattern = (f"(?:(?P<own>{own})(?:,? (?:at|recorded by) (?P<at>{_PERSON}?))?|" if own else "(?:")
            pattern += f"(?P<who>{_PERSON}?){_NOT_AUXILIARY} (?P<deed>{named}))"
        else:
            pattern = f"(?P<deed>{alternatives})"
        for table, example in zip(("", " with:"), examples, strict=True):
            if not example:
                continue
            if keyword == "when" and name != "tries_to_do_what":  # a present tense also sets a scene: "Given the
                # parent signs the consent"
                made.append((StepDoc("given", f"(?i){pattern}(?: today| now)?{re.escape(table)}", True,
                                     "Given " + example.removeprefix("When "), "deeds", form_shown(form, name, table)),
                             words))
            shown = form_shown(form, name, table)
            when = "(?: today| now)?" if keyword != "then" else ""  # deeds happen now: "today" may say so
            made.append((StepDoc(keyword, f"(?i){pattern}{when}{re.escape(table)}", True, example, "deeds", shown),
                         words))
    return made


#: A person's words in a deed (never the table's colon), and what cannot end them: "the hospital has" is the
#: person of no deed ("has recorded the birth" is a form of its own).
_PERSON = r"[^:]+"
_NOT_AUXILIARY = r"(?<! has)(?<! have)(?<! had)(?<! was)(?<! is)(?<! were)(?<! been)"


def form_shown(form: str, name: str, table: str) -> str:
    """A deed form as the catalogue shows it: `{who} {does_what} with:`."""
    return re.sub(r"\{(?:obj|present|participle|infinitive)\}.*\{rest\}", "{" + name + "}", form, count=1) + table


def suggest_deed(keyword: str, text: str, made: list[tuple[StepDoc, dict[str, Deed]]] | None = None) -> str | None:
    """The line an action said in words was most likely meant to be, a letter or two out (`the hospital recrds the
    birth`: `the hospital records the birth`), or None when no deed is that close."""
    made = made if made is not None else (deed_steps(deeds()) if (steps_folder() / "deeds.py").is_file() else [])
    said = text.strip()
    best: tuple[float, str] | None = None
    for step, words in made:
        if step.keyword != keyword or step.pattern.endswith(re.escape(" with:")) != said.endswith(" with:"):
            continue
        line, parts = said.removesuffix(" with:"), said.removesuffix(" with:").split()
        by_size: dict[int, list[str]] = {}
        for phrase in words:
            by_size.setdefault(len(phrase.split()), []).append(phrase)
        named = "(?P<who>" in step.pattern
        who_first = named and step.pattern.index("(?P<who>") < step.pattern.index("(?P<deed>")
        for size, phrases in by_size.items():
            if who_first:
                near, rest = " ".join(parts[-size:]), parts[:-size]
            elif named:
                near, rest = " ".join(parts[:size]), parts[size:]
            else:
                near, rest = line, []
            for phrase in difflib.get_close_matches(near.lower(), phrases, n=1, cutoff=0.85):
                ratio = difflib.SequenceMatcher(None, near.lower(), phrase).ratio()
                candidate = " ".join([*rest, phrase] if who_first else [phrase, *rest])
                if (best is None or ratio > best[0]) and candidate.lower() != line.lower():
                    best = (ratio, candidate + (" with:" if said.endswith(" with:") else ""))
    return None if best is None else f"{keyword.capitalize()} {best[1]}"


def _escape(words: str) -> str:
    """Words as a regular expression that reads as them (re.escape would escape the spaces too)."""
    return re.escape(words).replace("\\ ", " ")


def module_titles(folder: Path | None = None) -> dict[str, str]:
    folder = folder or steps_folder()
    titles = {}
    for path in sorted(folder.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or path.stem
        titles[path.stem] = doc.strip().splitlines()[0]
    return titles


def _step(decorator: ast.expr, constants: Mapping[str, str]) -> tuple[str, str, bool] | None:
    if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Name):
        return None
    if decorator.func.id not in KEYWORDS or not decorator.args:
        return None
    argument = decorator.args[0]
    if (text := _text(argument, constants)) is not None:
        return decorator.func.id, text, False
    if isinstance(argument, ast.Call) and isinstance(argument.func, ast.Attribute) and argument.args:
        inner = _text(argument.args[0], constants)
        if inner is not None:
            return decorator.func.id, inner, argument.func.attr == "re"
    return None


def _text(node: ast.expr, constants: Mapping[str, str]) -> str | None:
    """A step's words as its source spells them: a string, a module's string constant, or a sum of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left, constants), _text(node.right, constants)
        return None if left is None or right is None else left + right
    return None


def example_fits(step: StepDoc, example: str) -> bool:
    """Whether an example line (`When ... takes x   (a comment)`, a table written inline after `with:`) is a use of
    the step: its keyword, and a line the step matches."""
    keyword, _, rest = example.partition(" ")
    text = re.split(r"\s{3,}", rest)[0].strip()
    if text.endswith("|") and ": |" in text:
        text = text.split(": |")[0] + ":"
    return keyword.lower() == step.keyword and matches(step, text) is not None


def matches(step: StepDoc, text: str) -> dict[str, str] | None:
    """The values a step line gives the step's parameters, or None when the step does not match the line."""
    if step.regex:
        found = re.fullmatch(step.pattern, text)
        return None if found is None else {k: v for k, v in found.groupdict().items() if v is not None}
    if "{" in step.pattern:
        import parse  # pytest-bdd's own pattern language (the test extra, which running features needs anyway)

        parsed = parse.compile(step.pattern).parse(text)
        return None if parsed is None else {str(k): str(v) for k, v in parsed.named.items()}
    return {} if step.pattern == text else None


@dataclass(frozen=True)
class StepLine:
    where: str  # file:line
    keyword: str  # given, when or then (And and But take the keyword before them)
    text: str
    #: The table under the line: each row's line number and cells.
    table: tuple[tuple[int, tuple[str, ...]], ...] = ()


def feature_lines(path: Path) -> list[StepLine]:
    """Every step line of a feature file, with the table under it."""
    found: list[StepLine] = []
    keyword = "given"
    lines = path.read_text(encoding="utf-8").splitlines()
    examples = _outline_examples(lines)
    steps_begun = False  # a feature's description may start a line with "When": it is not a step
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith(("Background:", "Scenario:", "Scenario Outline:", "Scenario Template:", "Example:",
                            "Rule:")):
            steps_begun = True
        if not steps_begun:
            continue
        for name, value in examples.get(number, {}).items():  # a Scenario Outline's line, with its first example
            line = line.replace(f"<{name}>", value)
        if line.startswith("|") and found:
            cells = tuple(cell.strip() for cell in line.strip("|").split("|"))
            last = found[-1]
            found[-1] = StepLine(last.where, last.keyword, last.text, (*last.table, (number, cells)))
            continue
        head, _, rest = line.partition(" ")
        if head in ("Given", "When", "Then"):
            keyword = head.lower()
        elif head not in ("And", "But", "*"):
            continue
        found.append(StepLine(f"{path.name}:{number}", keyword, rest.strip()))
    return found


def _outline_examples(lines: list[str]) -> dict[int, dict[str, str]]:
    """For each line of a Scenario Outline, the values of its first example (`<days>` is the Examples' days)."""
    found: dict[int, dict[str, str]] = {}
    start: int | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith(("Scenario:", "Scenario Outline:", "Scenario Template:", "Feature:", "Background:")):
            start = number if line.startswith(("Scenario Outline:", "Scenario Template:")) else None
        elif start is not None and line.startswith(("Examples:", "Scenarios:")):
            table = [r.strip() for r in lines[number:] if r.strip().startswith("|")][:2]
            if len(table) == 2:
                header, first = ([c.strip() for c in r.strip("|").split("|")] for r in table)
                found.update({n: dict(zip(header, first, strict=False)) for n in range(start, number)})
            start = None
    return found


def search(
    catalogue: list[StepDoc], words: str, names: Mapping[str, Iterable[str]] | None = None, limit: int = 8,
) -> list[StepDoc]:
    """The steps closest to `words` (any order, any case, a letter or two wrong), best first. `names` are the
    values a parameter takes (`{"action": ["record_birth", ...]}`): words naming one ("record the birth") count
    for the steps with that parameter."""
    terms = [t for t in re.findall(r"[a-z0-9_]+", words.lower()) if t not in _LITTLE_WORDS]
    if not terms:
        return []
    named = {parameter for parameter, values in (names or {}).items() if any(_names(v, terms) for v in values)}
    vocabularies = [(step, _vocabulary(step)) for step in catalogue]
    every = frozenset().union(*(v for _, v in vocabularies))
    near = {term: _near(term, every) for term in terms}  # the words each term is a letter or two from, once
    scored = []
    for step, vocabulary in vocabularies:
        score = 0.0
        for term in terms:
            if term in vocabulary:
                score += 2
            elif near[term] & vocabulary:
                score += 1
        score += 3 * len(named & set(step.parameters))
        if score:
            whole = difflib.SequenceMatcher(None, words.lower(), step.readable.lower()).ratio()
            scored.append((score + whole, step))
    scored.sort(key=lambda pair: -pair[0])
    return [step for _, step in scored[:limit]]


def _names(value: str, terms: list[str]) -> bool:
    """Whether the words name `value`: the value itself, or every part of it of three letters or more."""
    parts = [part for part in value.lower().split("_") if len(part) >= 3]
    return value.lower() in terms or (bool(parts) and all(part in terms for part in parts))


@lru_cache(maxsize=1024)
def _vocabulary(step: StepDoc) -> frozenset[str]:
    """The words a step is found by: its pattern as read, its example, and for a step made from a table of phrases
    (the deeds) every phrase; a name's parts too (`record_birth`: record, birth)."""
    said = step.pattern.replace("\\", "") if step.shown else ""
    words = set(re.findall(r"[a-z0-9_]+", f"{step.keyword} {step.readable} {step.example} {said}".lower()))
    return frozenset(words | {part for word in words if "_" in word for part in word.split("_") if part})


def _near(term: str, vocabulary: frozenset[str]) -> set[str]:
    """The words that start the term or that it starts (`birth` and `births`), and those a letter or two away."""
    found = {word for word in vocabulary if len(word) > 3 and (word.startswith(term) or term.startswith(word))}
    return found | set(difflib.get_close_matches(term, vocabulary, n=20, cutoff=0.8))


_LITTLE_WORDS = frozenset({"a", "an", "the", "is", "are", "of", "to", "and", "or", "in", "on", "by", "with", "it"})


def pathway_names(catalogue: Catalogue) -> dict[str, list[str]]:
    """The actions, states and form fields of the loaded pathways, for the steps that name them."""
    workflows = catalogue.latest()
    return {
        "action": sorted({a for w in workflows for a in w.actions}),
        "state": sorted({s for w in workflows for s in w.states}),
        "field": sorted({f.id for form in catalogue.forms.values() for f in form.spec.fields}),
    }


def people(folder: Path | None = None) -> dict[str, str]:
    """How features may name the people who act (`WHO` in the step library's `world.py`), to their roles."""
    tree = ast.parse(((folder or steps_folder()) / "world.py").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in _literal(tree, "WHO").items()}


def check(
    paths: Iterable[Path], catalogue: list[StepDoc], names: Mapping[str, Iterable[str]], who: Iterable[str],
) -> list[str]:
    """Problems with feature files, without running them, one line each: a step line that matches no step (with
    the closest steps and their examples) or more than one, and an action, state, field or person the pathway or
    the step library does not know (with the closest it does)."""
    known = {parameter: sorted(set(values)) for parameter, values in names.items()}
    standard = sorted({w.lower() for w in who})
    problems: list[str] = []
    made = deed_steps(deeds()) if (steps_folder() / "deeds.py").is_file() else []
    for path in paths:
        known["who"] = standard
        problems += _gherkin_problems(path)
        for line in feature_lines(path):
            spoken = f"{line.keyword.capitalize()} {line.text}"
            hits = [(step, found) for step in catalogue if step.keyword == line.keyword
                    and (found := matches(step, line.text)) is not None]
            if not hits:
                meant = suggest_deed(line.keyword, line.text, made)
                if meant is not None:
                    problems.append(f"{line.where}: no step matches {spoken!r}; did you mean {meant!r}?")
                    continue
                closest = search(catalogue, line.text, names, limit=3)
                advice = "; closest: " + " | ".join(f"{s.readable} (e.g. {s.example.split('   ')[0]})"
                                                     for s in closest) if closest else ""
                problems.append(f"{line.where}: no step matches {spoken!r}{advice}")
                continue
            if len(hits) > 1:
                problems.append(f"{line.where}: {spoken!r} matches {len(hits)} steps: "
                                + ", ".join(step.readable for step, _ in hits))
                continue
            step, found = hits[0]
            head = [c.lower() for c in line.table[0][1]] if line.table else []
            if step.module == "people" and (columns := [h for h in head if h in ("name", "user", "person")]):
                column = head.index(columns[0])  # the people a scenario sets up act by name from here on
                known["who"] = sorted({*known["who"], *(c[column].lower() for _, c in line.table[1:] if c)})
            named = [(line.where, parameter, value) for parameter, value in found.items()]
            if "with:" in step.pattern and line.table:
                rows = line.table[1:] if line.table[0][1][:1] == ("field",) else line.table  # the header row
                file = line.where.rpartition(":")[0]
                named += [(f"{file}:{number}", "field", cells[0]) for number, cells in rows if cells]
            for where, kind, value in named:
                if kind not in known:
                    continue
                said = value.strip().strip('"').lower() if kind == "who" else value.strip().strip('"')
                if said and said not in known[kind]:
                    near = difflib.get_close_matches(said, known[kind], n=3, cutoff=0.6)
                    hint = f"; did you mean {' or '.join(near)}?" if near else ""
                    what = "person" if kind == "who" else kind
                    problems.append(f"{where}: unknown {what} {said!r} in {spoken!r}{hint}")
    return problems


def _gherkin_problems(path: Path) -> list[str]:
    """Lines that are not Gherkin at all (a step written `When, four days later, ...`): the run could not even read
    the file, so every scenario in it would be lost."""
    from gherkin.errors import CompositeParserException, ParserException
    from gherkin.parser import Parser

    try:
        Parser().parse(path.read_text(encoding="utf-8"))
    except CompositeParserException as failed:
        errors = list(failed.errors)
    except ParserException as failed:
        errors = [failed]
    else:
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for error in errors:
        number = int((getattr(error, "location", None) or {}).get("line") or 0)
        said = lines[number - 1].strip() if 0 < number <= len(lines) else ""
        found.append(f"{path.name}:{number}: not Gherkin, so no scenario of this file can run: {said!r} (a step "
                     "line starts with Given, When, Then, And or But and a space; a table row with |)")
    return found


@dataclass(frozen=True)
class ScenarioDoc:
    name: str
    line: int
    steps: tuple[StepLine, ...]
    #: The last run's result on each database ("passed", "failed", "skipped"), and the first failing step's line.
    results: tuple[tuple[str, str], ...] = ()
    failed_at: str | None = None

    @property
    def outcome(self) -> str:
        """passed (on every database it ran on), failed, or not run."""
        statuses = {status for _, status in self.results}
        if not statuses:
            return "not run"
        return "failed" if "failed" in statuses else "passed" if statuses == {"passed"} else "skipped"


@dataclass(frozen=True)
class FeatureDoc:
    path: Path
    name: str
    description: str
    background: tuple[StepLine, ...]
    scenarios: tuple[ScenarioDoc, ...]


def read_features(folder: Path, results: Path | None = None) -> list[FeatureDoc]:
    """Every feature of `folder` in readable form, with the last run's results from the cucumber JSON `results`
    (pytest-bdd writes one scenario per database it ran on)."""
    ran: dict[tuple[str, int], list[tuple[str, str, str | None]]] = {}
    if results is not None and results.is_file():
        try:
            report = json.loads(results.read_text(encoding="utf-8") or "[]")
        except ValueError:
            report = []
        for feature in report:
            for element in feature.get("elements", []):
                taken = element.get("steps", [])
                statuses = [s.get("result", {}).get("status", "skipped") for s in taken]
                status = "failed" if "failed" in statuses else "passed" if statuses else "skipped"
                failing = next((s for s in taken if s.get("result", {}).get("status") == "failed"), None)
                database = str(element.get("id", "")).rpartition("[")[2].rstrip("]") or "sqlite"
                key = (Path(str(feature.get("uri", ""))).name, int(element.get("line", 0)))
                ran.setdefault(key, []).append(
                    (database, status, None if failing is None else f"{failing['keyword']} {failing['name']}"))
    docs = []
    for path in sorted(folder.glob("*.feature")):
        text = path.read_text(encoding="utf-8").splitlines()
        lines = {int(step.where.rpartition(":")[2]): step for step in feature_lines(path)}
        name, description = path.stem, []
        background: list[StepLine] = []
        scenarios: list[ScenarioDoc] = []
        current: tuple[str, int] | None = None
        steps: list[StepLine] = []
        section = "feature"
        for number, raw in enumerate(text, start=1):
            line = raw.strip()
            if line.startswith("Feature:"):
                name = line.removeprefix("Feature:").strip()
            elif line.startswith("Background:"):
                section = "background"
            elif line.startswith(("Scenario:", "Scenario Outline:")):
                if current is not None:
                    scenarios.append(_scenario(current, steps, ran.get((path.name, current[1]), [])))
                current, steps, section = (line.partition(":")[2].strip(), number), [], "scenario"
            elif number in lines:
                (background if section == "background" else steps).append(lines[number])
            elif section == "feature" and line and not line.startswith(("#", "@")):
                description.append(line)
        if current is not None:
            scenarios.append(_scenario(current, steps, ran.get((path.name, current[1]), [])))
        docs.append(FeatureDoc(path, name, " ".join(description), tuple(background), tuple(scenarios)))
    return docs


def _scenario(head: tuple[str, int], steps: list[StepLine], ran: list[tuple[str, str, str | None]]) -> ScenarioDoc:
    failed_at = next((step for _, status, step in ran if status == "failed" and step), None)
    return ScenarioDoc(head[0], head[1], tuple(steps), tuple(sorted((db, status) for db, status, _ in ran)),
                       failed_at)


def mentioned(docs: list[FeatureDoc], catalogue: Catalogue) -> dict[str, list[str]]:
    """The pathway's actions, states and deadlines that no scenario names: by their names, an action said in words
    (`the hospital records the birth`) and a deadline by its title (`the newborn visit deadline`)."""
    lines = [s for doc in docs for s in (*doc.background, *(x for sc in doc.scenarios for x in sc.steps))]
    said = " ".join(f"{s.text} {' '.join(c for _, row in s.table for c in row)}" for s in lines)
    words = set(re.findall(r"[a-z0-9_]+", said))
    made = deed_steps(deeds()) if (steps_folder() / "deeds.py").is_file() else []
    for line in lines:
        for step, meaning in made:
            found = re.fullmatch(step.pattern, line.text) if step.keyword == line.keyword else None
            if found is not None:
                words.add(meaning[(found["deed"] or found.groupdict().get("own") or "").lower()].action)
                break
    workflow = catalogue.latest()[0]
    text = re.sub(r"[^a-z0-9]+", " ", said.lower())
    words |= {name for name, deadline in workflow.deadlines.items() for spoken in (name, deadline.title)
              if f" {re.sub(r'[^a-z0-9]+', ' ', spoken.lower()).strip()} deadline" in f" {text}"}
    return {
        "actions": sorted(a for a in workflow.actions if a not in words),
        "states": sorted(s for s in workflow.states if s not in words),
        "deadlines": sorted(d for d in workflow.deadlines if d not in words),
    }
