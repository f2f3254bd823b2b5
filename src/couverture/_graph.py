"""The rook adjacency of the units as one graph object, shared by zones, suggest, demo and maps.

:class:`UnitGraph` holds the unit codes (sorted), their département and the symmetric adjacency
in compressed sparse row form (``indptr``, ``indices``, ``border``: NumPy arrays, the shared
border lengths in metres as values). Everything that needs neighbours — connected components of
white units, CPTS touching a zone, units across a département border — asks it instead of
re-reading the adjacency table.

Plain NumPy rather than a SciPy sparse matrix: every query here is a slice or a mask of those
three arrays, and importing ``scipy.sparse.csgraph`` alone took a seventh of a first-sight
answer.

Examples
--------
>>> g = UnitGraph.from_edges(["a", "b", "c"], ["a"], ["b"])
>>> g.components(["a", "b", "c"]).tolist()
[0, 0, 1]
>>> sorted(g.neighbours("a"))
['b']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class UnitGraph:
    """Units (positions ``0..n-1`` in ``codes`` order) and their rook adjacency.

    Attributes
    ----------
    codes
        Unit codes, sorted.
    indptr, indices, border
        Symmetric adjacency in CSR form: the neighbours of unit ``i`` are
        ``indices[indptr[i]:indptr[i + 1]]`` (ascending), the shared border lengths (metres,
        1.0 when unknown) ``border`` at the same places.
    departement
        Département of each unit (empty strings when unknown).
    """

    codes: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    border: np.ndarray
    departement: np.ndarray

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_edges(
        cls,
        codes: Sequence[str] | np.ndarray,
        code_a: Sequence[str] | np.ndarray,
        code_b: Sequence[str] | np.ndarray,
        *,
        border: Sequence[float] | np.ndarray | None = None,
        departement: Sequence[str] | np.ndarray | None = None,
    ) -> UnitGraph:
        """Build the graph from unit codes and edges.

        Edges may be given in either or both directions; those whose ends are not in ``codes``
        are ignored.
        """
        # fixed-width strings: sorting and searching stay in C (no Python loop per edge)
        all_codes = np.asarray(codes).astype(str)
        order = np.argsort(all_codes, kind="stable")
        sorted_codes = all_codes[order]
        deps = (
            np.asarray(departement).astype(str)[order]
            if departement is not None
            else np.full(len(sorted_codes), "", dtype=str)
        )
        a = _lookup(sorted_codes, np.asarray(code_a).astype(str))
        b = _lookup(sorted_codes, np.asarray(code_b).astype(str))
        values = np.ones(len(a)) if border is None else np.asarray(border, dtype=float)
        keep = (a >= 0) & (b >= 0) & (a != b)
        a, b, values = a[keep], b[keep], values[keep]
        return cls.from_positions(
            sorted_codes,
            deps,
            np.concatenate([a, b]),
            np.concatenate([b, a]),
            np.concatenate([values, values]),
        )

    @classmethod
    def from_positions(
        cls,
        codes: np.ndarray,
        departement: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        border: np.ndarray,
    ) -> UnitGraph:
        """Build the graph from sorted unit codes and directed edges given as positions.

        The store's ``adjacency`` table holds each pair once per direction; a pair listed
        twice keeps its longest border. Edges already sorted by ``(a, b)`` without repeats
        (as :meth:`couverture.analysis.Analysis.graph` reads them) are taken as they are.
        """
        n = len(codes)
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        values = np.asarray(border, dtype=float)
        key = a * max(n, 1) + b
        if not np.all(key[1:] > key[:-1]):
            order = np.lexsort((-values, key))
            a, b, values, key = a[order], b[order], values[order], key[order]
            first = np.ones(len(a), dtype=bool)
            first[1:] = key[1:] != key[:-1]
            a, b, values = a[first], b[first], values[first]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(a, minlength=n), out=indptr[1:])
        return cls(codes=codes, indptr=indptr, indices=b, border=values, departement=departement)

    @classmethod
    def from_frames(cls, units: pd.DataFrame, adjacency: pd.DataFrame) -> UnitGraph:
        """Build the graph from the store's ``units`` and ``adjacency`` tables.

        ``units`` needs ``code`` and ``departement``; ``adjacency`` needs ``code_a``,
        ``code_b`` and optionally ``frontiere_m``.
        """
        border = adjacency["frontiere_m"].to_numpy() if "frontiere_m" in adjacency else None
        return cls.from_edges(
            units["code"].to_numpy(dtype=object),
            adjacency["code_a"].to_numpy(dtype=object),
            adjacency["code_b"].to_numpy(dtype=object),
            border=border,
            departement=units["departement"].to_numpy(dtype=object),
        )

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.codes)

    @cached_property
    def _rows(self) -> np.ndarray:
        """Source position of each entry of ``indices``."""
        return np.repeat(np.arange(len(self.codes), dtype=np.int64), np.diff(self.indptr))

    def position(self, code: str) -> int:
        """Position of a unit code (``KeyError`` when unknown)."""
        found = int(self.positions([code])[0])
        if found < 0:
            raise KeyError(code)
        return found

    def positions(self, codes: Iterable[str]) -> np.ndarray:
        """Positions of unit codes (``-1`` for an unknown code)."""
        return _lookup(self.codes, np.asarray(list(codes)).astype(str))

    def neighbours(self, code: str) -> list[str]:
        """Codes of the units adjacent to ``code``."""
        i = self.position(code)
        return [str(c) for c in self.codes[self.indices[self.indptr[i] : self.indptr[i + 1]]]]

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All edges once per direction: positions ``(a, b)`` and border lengths."""
        return self._rows, self.indices, self.border

    def within_departement(self) -> UnitGraph:
        """Return the same units with only the edges whose two ends are in one département."""
        a, b, border = self.edges()
        same = self.departement[a] == self.departement[b]
        return UnitGraph.from_positions(
            self.codes, self.departement, a[same], b[same], border[same]
        )

    def components(
        self, codes: Sequence[str] | np.ndarray, *, within_departement: bool = False
    ) -> np.ndarray:
        """Connected-component label of each of ``codes`` in the subgraph they induce.

        (labels numbered in order of first appearance); ``within_departement`` ignores the edges
        that cross a département border.
        """
        pos = self.positions(codes)
        known = pos >= 0
        local = np.full(len(self.codes), -1, dtype=np.int64)
        local[pos[known]] = np.arange(int(known.sum()))
        a, b, _ = self.edges()
        inside = (local[a] >= 0) & (local[b] >= 0)
        if within_departement:
            inside &= self.departement[a] == self.departement[b]
        roots = _roots(int(known.sum()), local[a[inside]], local[b[inside]])
        labels = np.empty(len(pos), dtype=np.int64)
        labels[known] = roots
        # unknown codes (no geometry, no edge) are components of their own
        labels[~known] = len(self.codes) + np.arange(int((~known).sum()))
        _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        renumber = np.empty(len(first), dtype=np.int32)
        renumber[np.argsort(first, kind="stable")] = np.arange(len(first), dtype=np.int32)
        return renumber[inverse]

    def across_border(self, departements: Iterable[str] | None = None) -> dict[str, set[str]]:
        """For each département, the units of other départements adjacent to one of its units.

        (``departements=None``: every département).
        """
        wanted = None if departements is None else set(departements)
        a, b, _ = self.edges()
        dep_a, dep_b = self.departement[a], self.departement[b]
        out: dict[str, set[str]] = {}
        for da, db, cb in zip(dep_a.tolist(), dep_b.tolist(), self.codes[b].tolist(), strict=True):
            if da != db and (wanted is None or da in wanted):
                out.setdefault(da, set()).add(cb)
        return out

    def touching(self, codes: Iterable[str]) -> np.ndarray:
        """Positions of the units outside ``codes`` adjacent to one of them."""
        pos = self.positions(codes)
        inside = np.zeros(len(self.codes), dtype=bool)
        inside[pos[pos >= 0]] = True
        reached = np.zeros(len(self.codes), dtype=bool)
        reached[self.indices[inside[self._rows]]] = True
        return np.flatnonzero(reached & ~inside)


def _roots(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component of each of ``n`` nodes given undirected edges ``a``–``b``: its smallest node.

    Vectorised union–find: every edge hooks the larger of its two roots under the smaller, then
    paths are compressed; a few rounds suffice even for long chains of communes.

    Examples
    --------
    >>> _roots(5, np.array([3, 1, 4]), np.array([4, 0, 3])).tolist()
    [0, 0, 2, 3, 3]
    """
    parent = np.arange(n, dtype=np.int64)
    while True:
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        if not differ.any():
            return parent
        low, high = np.minimum(ra, rb)[differ], np.maximum(ra, rb)[differ]
        np.minimum.at(parent, high, low)
        while True:  # compress: every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


def _lookup(sorted_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Positions of ``codes`` in ``sorted_codes`` (``-1`` when absent), vectorised."""
    if len(sorted_codes) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_codes, codes)
    pos = np.minimum(pos, len(sorted_codes) - 1)
    return np.where(sorted_codes[pos] == codes, pos, -1).astype(np.int64)


def label_components(codes: np.ndarray, edges_a: Any, edges_b: Any) -> np.ndarray:
    """Return a component label for each code given undirected edges between codes.

    Examples
    --------
    >>> label_components(np.array(["a", "b", "c"]), np.array(["a"]), np.array(["b"]))
    array([0, 0, 1], dtype=int32)
    """
    return UnitGraph.from_edges(codes, edges_a, edges_b).components(codes)
