"""Which counts a published report may show: small-cell and complementary suppression.

A report is a set of *cells*, each a count of cases, tied together by what their definitions say and any reader
knows: a total is the sum of its parts (births with a plan agreed before birth and births before a plan add up to
the births; the months add up to the period; so do the offices), and a count is at most the count it is part of.
Whatever a reader can work out from the report by arithmetic (totals, differences, one breakdown against another,
and the bounds that "<5" and "suppressed" themselves give away) follows from those relations and what is shown.

1. Primary suppression: counts from 1 to 4 are shown as "<5". A 0 is shown: it says nothing about anyone.
2. Complementary suppression: for every "<5" cell, find the smallest and largest value it can have, given
   everything shown: shown cells exactly, "<5" cells between 1 and 4, cells shown as "suppressed" at least 5 (a
   reader knows that much, since a smaller count would read "<5" and a 0 would be shown), every cell at least 0,
   and the relations. These are two linear programmes (HiGHS, through scipy). If they agree to within one whole
   count, the cell can be worked out: one of the shown cells the proof rests on (those whose value has a non-zero
   dual value) is suppressed too, the smallest, and the cell is checked again, until no "<5" cell can be worked out.
   Suppressing more only widens every bound, so a cell found safe stays safe.

A reader also gets counts that are not published, by subtraction: 6 births of which 5 were before a plan says one
birth was with a plan. Every such difference (a count's complement within the count it is part of) is a *hidden*
cell: never shown, known to a reader only as at least 0, and protected like a "<5" cell when it is from 1 to 4.

Rarely, a "<5" cell can be worked out from the bounds of other suppressed cells alone (three offices each "<5" add up
to at least 3; a total bounded by "<5" months is at most 8): then the "<5" cells the proof rests on are shown as
"suppressed" instead, which tells a reader only that the count is not 0. So a reader may take "suppressed" to mean
"at least 1", and this module, to be safe, assumes more (at least 5) of the cells it suppresses to protect others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

#: Counts below this, except 0, are suppressed.
SMALL_CELL = 5
#: How a primary-suppressed count is shown.
LESS_THAN = f"<{SMALL_CELL}"
#: How a complementary-suppressed count (and any share or median that would give a count away) is shown.
SUPPRESSED = "suppressed"
SUPPRESSION = (
    f"counts from 1 to {SMALL_CELL - 1} are shown as {LESS_THAN}; a count, share or median that would let a reader "
    f"work one out from the rest of the report is shown as {SUPPRESSED} (never a 0)"
)
#: Slack when comparing the solver's bounds with whole counts.
_EPSILON = 1e-6


@dataclass(frozen=True)
class Protection:
    """The outcome for each cell, by index: `shown` cells are published as counts; the others are `small` (1 to 4,
    shown as "<5") or `complementary` (shown as "suppressed")."""

    small: frozenset[int]
    complementary: frozenset[int]

    def shown(self, index: int) -> bool:
        return index not in self.small and index not in self.complementary

    def display(self, index: int, value: int) -> int | str:
        if index in self.small:
            return LESS_THAN
        if index in self.complementary:
            return SUPPRESSED
        return value


@dataclass(frozen=True)
class AtLeast:
    """sum(coefficient x cell) >= least, known to a reader while the `guard` cell is published (a median's bounds
    on its bins, which are published only beside its count)."""

    guard: int
    terms: dict[int, float]
    least: float


@dataclass(frozen=True)
class Relations:
    """What a reader knows ties the cells together: each `sums` entry (total, parts) says the total is the sum of
    the parts (a part of a whole is a sum too: the whole is the part plus a hidden difference); `bounds` are
    inequalities."""

    sums: Sequence[tuple[int, Sequence[int]]]
    bounds: Sequence[AtLeast] = ()


def protect(values: Sequence[int], relations: Relations, hidden: frozenset[int] = frozenset()) -> Protection:
    """Suppression for cells with these true `values`, tied by `relations`; `hidden` cells are never published."""
    small = frozenset(i for i, v in enumerate(values) if 0 < v < SMALL_CELL and i not in hidden)
    sensitive = sorted(i for i, v in enumerate(values) if 0 < v < SMALL_CELL)
    complementary: set[int] = set()
    demoted: set[int] = set()
    if not sensitive:
        return Protection(small, frozenset())
    problem = _Problem(values, relations, hidden)
    pending = sensitive
    while pending:
        index = pending[0]
        proof = problem.pinned(index, small - demoted, complementary, demoted)
        if proof is None:
            pending.pop(0)
            continue
        candidates = [i for i in proof if problem.shown(i, small, complementary) and values[i] > 0]
        if candidates:
            # Suppressing more only widens every bound: the cells already found safe stay safe. Check this one again.
            complementary.add(min(candidates, key=lambda i: (values[i], i)))
            continue
        # Pinned by the bounds "<5" gives away (1 to 4) alone: those cells are shown as "suppressed" instead,
        # which says only that they are not 0.
        bounded = [i for i in proof if i in small and i not in demoted] or [i for i in small if i not in demoted]
        if not bounded:  # nothing left to loosen (not expected to happen): every count but a 0 is withheld
            return Protection(frozenset(), frozenset(i for i, v in enumerate(values) if v > 0 and i not in hidden))
        demoted.update(bounded)
    return Protection(frozenset(small - demoted), frozenset(complementary | demoted))


class _Problem:
    """The linear programmes of `protect`: one variable per cell, the relations as constraints."""

    def __init__(self, values: Sequence[int], relations: Relations, hidden: frozenset[int]) -> None:
        self.values = list(values)
        self.hidden = hidden
        size = len(values)
        rows: list[int] = []
        columns: list[int] = []
        signs: list[float] = []
        for row, (total, parts) in enumerate(relations.sums):
            for column, sign in ((total, -1.0), *((p, 1.0) for p in parts)):
                rows.append(row)
                columns.append(column)
                signs.append(sign)
        self.a_eq = csr_matrix((signs, (rows, columns)), shape=(len(relations.sums), size)) if relations.sums else None
        self.bounds = list(relations.bounds)

    def shown(self, index: int, small: frozenset[int], complementary: set[int]) -> bool:
        return index not in small and index not in complementary and index not in self.hidden

    def pinned(
        self, index: int, small: frozenset[int], complementary: set[int], demoted: set[int],
    ) -> list[int] | None:
        """The cells a proof of cell `index`'s value rests on, or None when it cannot be worked out."""
        bounds: list[tuple[float, float | None]] = []
        for i, value in enumerate(self.values):
            if i in self.hidden:
                bounds.append((0.0, None))
            elif i in demoted:
                bounds.append((1.0, None))
            elif i in small:
                bounds.append((1.0, SMALL_CELL - 1.0))
            elif i in complementary:
                bounds.append((float(SMALL_CELL), None))
            else:
                bounds.append((float(value), float(value)))
        objective = np.zeros(len(self.values))
        objective[index] = 1.0
        extremes: list[float] = []
        used: set[int] = set()
        known = [b for b in self.bounds if self.shown(b.guard, small, complementary) and b.guard not in demoted]
        a_ub = b_ub = None
        if known:  # sum(c x) >= least, as -sum(c x) <= -least
            rows = [r for r, b in enumerate(known) for _ in b.terms]
            columns = [i for b in known for i in b.terms]
            a_ub = csr_matrix(([-c for b in known for c in b.terms.values()], (rows, columns)),
                              shape=(len(known), len(self.values)))
            b_ub = np.array([-b.least for b in known])
        for sign in (1.0, -1.0):
            result = linprog(
                sign * objective, A_ub=a_ub, b_ub=b_ub,
                A_eq=self.a_eq, b_eq=np.zeros(self.a_eq.shape[0]) if self.a_eq is not None else None,
                bounds=bounds, method="highs",
            )
            if result.status == 3:  # unbounded: no largest value, so not pinned down
                return None
            if result.status != 0:  # the true counts are a solution, so only a numerical failure gets here: be safe
                return [i for i in range(len(self.values)) if self.shown(i, small, complementary) and i not in demoted]
            extremes.append(sign * result.fun)
            for marginals in (result.lower.marginals, result.upper.marginals):
                used.update(i for i, m in enumerate(marginals) if abs(m) > _EPSILON and i != index)
            if known:  # a median bound the proof rests on: suppressing its count takes the median with it
                used.update(b.guard for b, m in zip(known, result.ineqlin.marginals, strict=True) if abs(m) > _EPSILON)
        low, high = extremes
        if math.ceil(low - _EPSILON) < math.floor(high + _EPSILON):
            return None
        return sorted(used)
