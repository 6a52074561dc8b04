"""Plots of Goerigk & Kurtz's experiments: 2-D level sets of uncertainty sets (their Figure 1), out-of-sample
histograms of robust solutions (Figures 2-5) and a path drawn on the street graph."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_level_sets", "plot_out_of_sample", "plot_path"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(5, 4.5))[1]


def _level_function(U: Any) -> tuple[Any, float, str]:
    """The function whose sublevel set is U, its level, and a label."""
    if hasattr(U, "radii") and hasattr(U, "radius"):
        return U.radii, float(U.radius), r"$\|f(c)-\bar c\|$"
    if hasattr(U, "scores") and hasattr(U, "theta"):
        return U.scores, float(U.theta), r"$\sum_{i\in SV}\alpha_i\|Q(c-c^i)\|_1$"
    if hasattr(U, "contains"):
        return (lambda C: np.where(U.contains(C), 0.0, 1.0)), 0.5, "outside U"
    raise TypeError(f"{type(U).__name__} has neither radii, scores nor contains: cannot draw its level sets")


def plot_level_sets(U: Any, data: Any = None, ax: Any = None, bounds: Any = None, grid: int = 200,
                    scenarios: Any = None, title: str | None = None, log: bool = False) -> Any:
    """Colour map of the set's defining function over a 2-D box, U's boundary (white line, the level R for a
    network set ||f(c) - c_bar|| <= R, theta for the Kernel set) and the data points (white crosses).

    ``bounds`` = ((c1_min, c1_max), (c2_min, c2_max)), default the data's box widened by 10%. ``scenarios``
    (rows) are marked with red dots, e.g. the worst cases found by scenario generation.
    """
    if getattr(U, "dim", 2) != 2:
        raise ValueError(f"level sets are drawn for 2-D sets only, this one has dimension {U.dim}")
    fun, level, label = _level_function(U)
    ax = _axes(ax)
    D = None if data is None else np.atleast_2d(np.asarray(data, dtype=float))
    if bounds is None:
        if D is None:
            raise ValueError("give bounds or data to fix the plotted box")
        lo, hi = D.min(axis=0), D.max(axis=0)
        pad = 0.1 * (hi - lo)
        bounds = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    g1 = np.linspace(bounds[0][0], bounds[0][1], grid)
    g2 = np.linspace(bounds[1][0], bounds[1][1], grid)
    G1, G2 = np.meshgrid(g1, g2)
    Z = np.asarray(fun(np.c_[G1.ravel(), G2.ravel()]), dtype=float).reshape(G1.shape)
    Zc = np.log10(np.maximum(Z, 1e-12)) if log else Z
    mesh = ax.pcolormesh(G1, G2, Zc, shading="auto", cmap="viridis")
    ax.figure.colorbar(mesh, ax=ax, label=("log10 " if log else "") + label)
    ax.contour(G1, G2, Z, levels=[level], colors="white", linewidths=1.5)
    if D is not None:
        ax.scatter(D[:, 0], D[:, 1], marker="x", s=10, c="white", linewidths=0.7)
    if scenarios is not None:
        S = np.atleast_2d(np.asarray(scenarios, dtype=float))
        ax.scatter(S[:, 0], S[:, 1], s=18, c="red", label="worst cases", zorder=3)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlim(bounds[0])
    ax.set_ylim(bounds[1])
    ax.set_xlabel("$c_1$")
    ax.set_ylabel("$c_2$")
    if title:
        ax.set_title(title)
    return ax


def plot_out_of_sample(values: dict[str, Any], level: float = 0.9, ax: Any = None, bins: int = 50,
                       title: str | None = None, xlabel: str = "$c^\\top x$") -> Any:
    """Histograms of c'x over test scenarios for several solutions (``{label: values}``), with the mean
    (dashed) and the ``level``-quantile (solid) of each."""
    ax = _axes(ax)
    arrays = {k: np.asarray(getattr(v, "values", v), dtype=float).ravel() for k, v in values.items()}
    if not arrays:
        raise ValueError("no values to plot")
    lo = min(a.min() for a in arrays.values())
    hi = max(a.max() for a in arrays.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for k, (name, a) in enumerate(arrays.items()):
        ax.hist(a, bins=edges, histtype="step", color=f"C{k}", label=name, linewidth=1.4)
    for k, a in enumerate(arrays.values()):  # ymax is a fraction of the axes: lines stay below the bars' top
        ax.axvline(a.mean(), color=f"C{k}", linestyle="--", linewidth=1, ymax=0.5)
        ax.axvline(np.quantile(a, level), color=f"C{k}", linestyle="-", linewidth=1, ymax=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test scenarios")
    ax.legend(title=f"mean (dashed), {int(round(100 * level))}% quantile (solid)", fontsize=8, title_fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_path(graph: Any, arcs: Any, source: Any = None, sink: Any = None, pos: dict | None = None, ax: Any = None,
              index: str = "index", color: str = "red", title: str | None = None) -> Any:
    """The graph in grey with the arcs of a path (their ``index`` values) highlighted; parallel arcs are
    drawn once. Without ``pos``, a Kamada-Kawai layout (deterministic) places the nodes."""
    import networkx as nx

    from nnblocks.robust.problems import path_arcs

    ax = _axes(ax)
    if pos is None:
        pos = nx.kamada_kawai_layout(nx.Graph(graph))
    simple = nx.DiGraph()
    simple.add_nodes_from(graph.nodes)
    simple.add_edges_from((u, v) for u, v, _ in path_arcs(graph, index))
    nx.draw_networkx_edges(simple, pos, ax=ax, edge_color="0.75", arrows=False, width=0.8)
    nx.draw_networkx_nodes(simple, pos, ax=ax, node_size=12, node_color="0.5")
    chosen = set(int(a) for a in (arcs or []))
    on_path = [(u, v) for u, v, j in path_arcs(graph, index) if j in chosen]
    nx.draw_networkx_edges(simple, pos, edgelist=on_path, ax=ax, edge_color=color, width=2.5, arrows=True,
                           arrowsize=10)
    ends = [v for v in (source, sink) if v is not None]
    if ends:
        nx.draw_networkx_nodes(simple, pos, nodelist=ends, ax=ax, node_size=60, node_color=color)
        nx.draw_networkx_labels(simple, pos, labels={v: str(v) for v in ends}, ax=ax, font_size=8)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax
