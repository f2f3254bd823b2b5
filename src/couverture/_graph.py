"""The rook adjacency of the units as one graph object, shared by zones, suggest, demo and maps.

:class:`UnitGraph` holds the unit codes (sorted), their département and population, and the
symmetric adjacency as a SciPy CSR matrix whose values are the shared border lengths in metres.
Everything that needs neighbours — connected components of white units, CPTS touching a zone,
units across a département border — asks it instead of re-reading the adjacency table.

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
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from scipy.sparse import csr_matrix


@dataclass(frozen=True)
class UnitGraph:
    """Units (positions ``0..n-1`` in ``codes`` order) and their rook adjacency.

    Attributes
    ----------
    codes
        Unit codes, sorted.
    matrix
        Symmetric CSR adjacency; values are shared border lengths (metres, 1.0 when unknown).
    departement
        Département of each unit (empty strings when unknown).
    """

    codes: np.ndarray
    matrix: csr_matrix
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
        """Build the graph from unit codes and edges (either or both directions; edges whose
        ends are not in ``codes`` are ignored)."""
        from scipy.sparse import coo_matrix

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
        n = len(sorted_codes)
        # both directions; a pair listed twice keeps its longest border
        rows = np.concatenate([a, b])
        cols = np.concatenate([b, a])
        vals = np.concatenate([values, values])
        pair = rows * max(n, 1) + cols
        order = np.lexsort((-vals, pair))
        first = np.ones(len(order), dtype=bool)
        first[1:] = pair[order][1:] != pair[order][:-1]
        keep_idx = order[first]
        matrix = coo_matrix(
            (vals[keep_idx], (rows[keep_idx], cols[keep_idx])), shape=(n, n)
        ).tocsr()
        return cls(codes=sorted_codes, matrix=matrix, departement=deps)

    @classmethod
    def from_positions(
        cls,
        codes: np.ndarray,
        departement: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        border: np.ndarray,
    ) -> UnitGraph:
        """Build the graph from sorted unit codes and edges given as positions in them (each
        pair once per direction, as the store's ``adjacency`` table holds them)."""
        from scipy.sparse import coo_matrix

        n = len(codes)
        matrix = coo_matrix((border.astype(float), (a, b)), shape=(n, n)).tocsr()
        return cls(codes=codes, matrix=matrix, departement=departement)

    @classmethod
    def from_frames(cls, units: pd.DataFrame, adjacency: pd.DataFrame) -> UnitGraph:
        """Build the graph from the store's ``units`` (``code``, ``departement``) and
        ``adjacency`` (``code_a``, ``code_b``, optional ``frontiere_m``) tables."""
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
        row = self.matrix.indices[self.matrix.indptr[i] : self.matrix.indptr[i + 1]]
        return [str(c) for c in self.codes[row]]

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All edges once per direction: positions ``(a, b)`` and border lengths."""
        coo = self.matrix.tocoo()
        return coo.row, coo.col, coo.data

    def within_departement(self) -> UnitGraph:
        """The same units with only the edges whose two ends are in one département."""
        coo = self.matrix.tocoo()
        same = self.departement[coo.row] == self.departement[coo.col]
        matrix = type(coo)(
            (coo.data[same], (coo.row[same], coo.col[same])), shape=coo.shape
        ).tocsr()
        matrix.sort_indices()
        return UnitGraph(codes=self.codes, matrix=matrix, departement=self.departement)

    def components(
        self, codes: Sequence[str] | np.ndarray, *, within_departement: bool = False
    ) -> np.ndarray:
        """Connected-component label of each of ``codes`` in the subgraph they induce
        (labels numbered in order of first appearance); ``within_departement`` ignores the
        edges that cross a département border."""
        from scipy.sparse.csgraph import connected_components

        pos = self.positions(codes)
        known = pos >= 0
        sub = self.matrix[pos[known]][:, pos[known]].tocoo()
        if within_departement:
            deps = self.departement[pos[known]]
            same = deps[sub.row] == deps[sub.col]
            sub = type(sub)((sub.data[same], (sub.row[same], sub.col[same])), shape=sub.shape)
        _, labels_known = connected_components(sub, directed=False)
        labels = np.empty(len(pos), dtype=np.int64)
        labels[known] = labels_known
        # unknown codes (no geometry, no edge) are components of their own
        n_known = int(labels_known.max()) + 1 if len(labels_known) else 0
        labels[~known] = n_known + np.arange(int((~known).sum()))
        _, first = np.unique(labels, return_index=True)
        renumber = np.empty(len(first), dtype=np.int32)
        renumber[labels[np.sort(first)]] = np.arange(len(first), dtype=np.int32)
        return renumber[labels]

    def across_border(self, departements: Iterable[str] | None = None) -> dict[str, set[str]]:
        """For each département, the units of other départements adjacent to one of its
        units (``departements=None``: every département)."""
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
        pos = pos[pos >= 0]
        inside = np.zeros(len(self.codes), dtype=bool)
        inside[pos] = True
        reached = np.asarray(self.matrix[pos].sum(axis=0)).ravel() > 0
        return np.flatnonzero(reached & ~inside)


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
