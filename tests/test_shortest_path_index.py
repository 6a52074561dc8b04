"""The arcs' cost-index attribute of the robust shortest path: every arc carries one, or none does."""

from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pytest

from nnblocks.robust.baselines import DiscreteUncertaintySet
from nnblocks.robust.problems import path_arcs, robust_shortest_path


def _partly_indexed() -> nx.DiGraph:
    """s -> a -> t carries indices (in reverse enumeration order), the direct arc s -> t carries none."""
    g = nx.DiGraph()
    g.add_edge("s", "a", index=1)
    g.add_edge("a", "t", index=0)
    g.add_edge("s", "t")
    return g


def test_partly_indexed_graph_is_refused_naming_attribute_and_arc():
    g = _partly_indexed()
    U = DiscreteUncertaintySet([[1.0, 1.0, 5.0]])
    msg = re.escape("arc attribute 'index' is set on 2 of 3 arcs: arc ('s', 't') has none")
    with pytest.raises(ValueError, match=msg):
        robust_shortest_path(g, U, "s", "t")
    with pytest.raises(ValueError, match=msg):
        path_arcs(g)


def test_partly_indexed_multigraph_names_the_parallel_arc_by_key():
    g = nx.MultiDiGraph()
    g.add_edge(0, 1, index=0)
    g.add_edge(0, 1)  # key 1, the parallel twin without an index
    g.add_edge(1, 2, index=1)
    with pytest.raises(ValueError, match=re.escape("arc (0, 1, 1) has none")):
        path_arcs(g)


def test_custom_attribute_name_is_checked_and_named():
    g = nx.DiGraph()
    g.add_edge(0, 1, cost_id=0)
    g.add_edge(1, 2)
    with pytest.raises(ValueError, match=re.escape("arc attribute 'cost_id' is set on 1 of 2 arcs: arc (1, 2)")):
        robust_shortest_path(g, DiscreteUncertaintySet([[1.0, 1.0]]), 0, 2, index="cost_id")
    # the default attribute name is absent from every arc: enumeration order, no error
    assert [j for _, _, j in path_arcs(g)] == [0, 1]


@pytest.mark.parametrize("bad", [0.5, "0", True, float("nan")])
def test_non_integer_index_is_refused(bad):
    g = nx.DiGraph()
    g.add_edge(0, 1, index=bad)
    g.add_edge(1, 2, index=1)
    with pytest.raises(ValueError, match=r"arc attribute 'index' must be an integer, arc \(0, 1\) has"):
        path_arcs(g)


def test_fully_indexed_and_unindexed_graphs_still_solve():
    g = _partly_indexed()
    g.edges["s", "t"]["index"] = 2
    # cost of (a, t) is c_0, of (s, a) is c_1, of (s, t) is c_2: the detour costs 2, the direct arc 5
    U = DiscreteUncertaintySet([[1.0, 1.0, 5.0]])
    sol = robust_shortest_path(g, U, "s", "t")
    assert sol.is_robust and sol.nodes == ["s", "a", "t"] and sol.robust_value == pytest.approx(2.0)
    assert sorted(sol.arcs) == [0, 1]
    # integral floats and numpy integers are indices too
    h = nx.DiGraph()
    h.add_edge("s", "a", index=np.int64(1))
    h.add_edge("a", "t", index=0.0)
    h.add_edge("s", "t", index=2)
    assert [j for _, _, j in path_arcs(h)] == [1, 2, 0]  # arcs in order s->a, s->t, a->t
    # no index anywhere: enumeration order (s->a, s->t, a->t)
    for d in (e[2] for e in g.edges(data=True)):
        del d["index"]
    assert [(u, v) for u, v, _ in path_arcs(g)] == [("s", "a"), ("s", "t"), ("a", "t")]
    sol = robust_shortest_path(g, DiscreteUncertaintySet([[1.0, 5.0, 1.0]]), "s", "t")
    assert sol.nodes == ["s", "a", "t"] and sol.robust_value == pytest.approx(2.0)
