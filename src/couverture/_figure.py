"""Matplotlib figures drawn without pyplot: no global backend switch, no figure registry.

The report's charts and the fiches' maps are :class:`matplotlib.figure.Figure` objects saved
directly (PNG, PDF): a notebook that imported couverture keeps its own backend (inline plots
still show) and no figure is left open in pyplot's registry. The names mirror pyplot's, so
that a module draws with ``plt = _figure`` as it would with pyplot.

Examples
--------
>>> fig, ax = subplots(figsize=(2, 1))
>>> _ = ax.plot([0, 1], [1, 0])
>>> import io
>>> buffer = io.BytesIO()
>>> fig.savefig(buffer, format="png")
>>> buffer.getvalue()[:4] == b"\\x89PNG"
True
>>> hasattr(fig.canvas, "get_renderer")  # text measured for label placement
True
>>> close(fig)
"""

from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def figure(figsize: tuple[float, float] | None = None, **kwargs: Any) -> Any:
    """Return a new :class:`matplotlib.figure.Figure` (not registered with pyplot).

    It is given its own Agg canvas (no global backend change): label placement
    (adjustText) measures text through ``fig.canvas.get_renderer()``, which a bare figure's
    base canvas does not have.
    """
    fig = Figure(figsize=figsize, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def subplots(figsize: tuple[float, float] | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """Return a new figure and its axes, as ``pyplot.subplots`` does."""
    fig = figure(figsize=figsize)
    return fig, fig.subplots(**kwargs)


def close(fig: Any) -> None:
    """Release a figure's drawing (pyplot keeps no reference to it: nothing else to do)."""
    fig.clear()


def __getattr__(name: str) -> Any:
    """``Line2D``: matplotlib's artists, imported when used."""
    if name == "Line2D":
        from matplotlib.lines import Line2D

        return Line2D
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def halo() -> list[Any]:
    """Return the white outline that keeps a label readable over a map (``path_effects``)."""
    import matplotlib.patheffects as pe

    return [pe.withStroke(linewidth=2.2, foreground="white")]
