"""``NetworkBlock``: a trained piecewise-affine network y = f(x) as a Pyomo block.

A user's model gets the network in one line::

    m.nn = NetworkBlock(network, inputs=m.x)  # or input_bounds=(lower, upper) for the block's own inputs

(any keyword of :meth:`NetworkBlockData.build`), or as an empty block filled later::

    m.nn = NetworkBlock()
    m.nn.build(network, inputs=m.x)

Layer k (1-based) is the block ``m.nn.layer[k]``; for its neuron j

- ``x[j]``      post-activation h^k_j (a variable for every neuron; fixed where the bounds prove it constant)
- ``pre[j]``    pre-activation a^k_j = W^k_j h^{k-1} + b^k_j as an expression (``x[j] - s[j]`` for a ReLU)
- ReLU layers (Fischetti–Jo form): ``s[j]`` slack and ``z[j]`` binary, only for unstable neurons;
  ``z = 1`` is the inactive side (x = 0), ``z = 0`` the active side (s = 0)
- other activations: ``u[j, p]`` indicator of piece p (eq. (12) of Goerigk & Kurtz), only for unstable
  neurons and pieces reachable within the bounds; ``a[j]`` pre-activation variable (big-M) or
  ``v[j, p]`` its disaggregated copies (hull).

Constraint names: ``affine`` (the layer's affine map), ``affine_stable`` (stable neurons),
``x_bound``/``s_bound`` (FJ big-M), ``one`` (sum of piece indicators = 1), ``piece_lower``/``piece_upper``
and ``map_lower``/``map_upper`` (big-M, eqs. (16)-(18)), ``map``/``v_lower``/``v_upper`` (hull),
``region`` (pattern). See docs/blocks.md for the equations.

A :class:`~nnblocks.graph.Graph` is encoded node by node (:mod:`nnblocks.blocks.graph_encoding`): node k's
components on ``m.nn.nodes[k]``, element j of tensor t as ``m.nn.tensor(t)[j]``, the pre-activations of an
Elementwise node k as ``m.nn.pre(k)[j]``.

Each formulation is a class in ``nnblocks/blocks/formulations/`` (one file each, on the base
``Formulation``) registered by name in ``FORMULATIONS``; the block asks it to build every layer, for the
pre-activation expression of a neuron and to fix or unfix a pattern.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.base.block import BlockData, CustomBlock, ScalarCustomBlockMixin
from pyomo.core.base.component import Component
from pyomo.core.base.indexed_component_slice import IndexedComponent_slice
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.core.expr.relational_expr import EqualityExpression

from nnblocks._pyomo import add_constraints, bounds_dict
from nnblocks.blocks import graph_encoding
from nnblocks.blocks.formulations import FORMULATIONS, Formulation, LayerSpec, Previous, get_formulation
from nnblocks.graph import Graph
from nnblocks.network import Network

__all__ = ["NetworkBlock", "FORMULATIONS"]


class _PreActivations:
    """Read-only mapping neuron j -> Pyomo expression of the pre-activation a^k_j of one layer.

    Built on first access: the compact form the formulation already has (``x - s``, ``a[j]``,
    ``sum_p v[j,p]``) where it exists, otherwise W_j h^{k-1} + b_j.
    """

    def __init__(self, owner: NetworkBlockData, k: int) -> None:
        self._owner = owner
        self._k = k
        self._cache: dict[int, Any] = {}

    def __len__(self) -> int:
        return self._owner._network.layers[self._k - 1].n_out

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self)))

    def keys(self) -> range:
        return range(len(self))

    def __getitem__(self, j: int):
        j = int(j)
        if not 0 <= j < len(self):
            raise KeyError(f"layer {self._k} has neurons 0..{len(self) - 1}, got {j}")
        if j not in self._cache:
            self._cache[j] = self._owner._pre_expression(self._k, j)
        return self._cache[j]

    def __repr__(self) -> str:
        return f"<pre-activations of layer {self._k} ({len(self)} neurons)>"


class NetworkBlockData(BlockData):
    """One network y = f(x) inside a Pyomo model (see the module docstring for the naming).

    Create with ``m.nn = NetworkBlock(network, inputs=...)``, or ``m.nn = NetworkBlock()`` and fill with
    :meth:`build`.
    """

    def __init__(self, component) -> None:
        super().__init__(component)
        self._network: Network | None = None
        self._formulation: str | None = None
        self._form: Formulation | None = None  # the registered formulation of that name
        self._bounds = None
        self._input_vars: list = []
        self._unstable: list[np.ndarray] = []
        self._unstable_sets: list[frozenset] = []
        self._prev: list[Previous] = []
        self._pre: list[_PreActivations] = []
        self._pattern = None
        self._graph: graph_encoding.GraphEncoding | None = None  # the encoding of a Graph (None for a Network)
        self._pending: _Pending | None = None  # the arguments of NetworkBlock(network, ...) until construction

    # -- construction -----------------------------------------------------------------------
    def build(
        self,
        network: Network | Graph,
        inputs: Any = None,
        input_bounds: tuple[Any, Any] | None = None,
        formulation: str = "bigm",
        bounds: Any = "interval",
        ball: dict | None = None,
        pattern: Sequence[Sequence[int]] | None = None,
        outputs: Any = None,
    ) -> NetworkBlockData:
        """Encode ``network`` on ``inputs`` (or on the block's own input variables ``input[i]``).

        ``NetworkBlock(network, ...)`` with the same arguments builds the block on construction.

        Parameters
        ----------
        network:
            The :class:`~nnblocks.network.Network`, or a :class:`~nnblocks.graph.Graph` (encoded by
            :mod:`nnblocks.blocks.graph_encoding`; ``bounds`` then a name of ``bounds.graph.GRAPH_METHODS``
            or a ``GraphBounds``, ``pattern`` a dict {node k: pieces or argmax places}).
        inputs:
            The caller's variables for the network input (an indexed Var, a list of scalar
            variables or an object array of them), used directly. ``None`` creates ``input[i]``.
        input_bounds:
            ``(lower, upper)`` (scalars or arrays, ``None``/inf for unbounded) of the block's own
            inputs; only when ``inputs`` is None.
        formulation:
            ``"bigm"`` (Fischetti–Jo for ReLU, per-piece big-M otherwise), ``"hull"`` (per-neuron
            convex hull), ``"pattern"`` (fixed activation pattern: an LP), ``"relaxation"`` (hull with
            the indicators relaxed to [0, 1]), or the name of any formulation registered with
            :func:`~nnblocks.blocks.formulations.register_formulation`.
        bounds:
            a method name of ``nnblocks.bounds.METHODS`` (``"interval"``, ``"lp"``, ``"crown"``,
            ``"alpha-crown"``, ``"pipeline"``; computed with :func:`nnblocks.bounds.compute_bounds` over the
            inputs' bounds intersected with ``ball``) or a precomputed ``NetworkBounds``. Not used by
            the pattern formulation.
        ball:
            ``dict(center=..., norm=1 | 2 | "inf", radius=...)`` intersected with the input box for
            the bounds (the ball itself is not added as a constraint: use ``NormBall`` for that).
        pattern:
            An activation pattern (format of :meth:`Network.activation_pattern`): required for
            ``"pattern"``; for the other formulations it is fixed right away (:meth:`fix_pattern`).
        outputs:
            The caller's variables for the network output y (like ``inputs``), tied to the block's
            output variables h^K by the equalities ``output_link[j]``: y_j = h^K_j. ``None`` adds none.
        """
        if self._network is not None:
            raise RuntimeError("this NetworkBlock is already built; create a new NetworkBlock")
        self._encode(_plan(network, inputs, input_bounds, formulation, bounds, ball, pattern, outputs))
        return self

    def _setup(self, plan) -> list:
        """The input variables (the caller's, or ``input[i]`` in the plan's box) and the build's records."""
        n0 = plan.network.n_inputs
        if plan.inputs is None:
            self.input = pyo.Var(range(n0), bounds=bounds_dict(range(n0), plan.lower, plan.upper))
            in_vars = [self.input[i] for i in range(n0)]
        else:
            in_vars = list(plan.inputs)
        self._network = plan.network
        self._formulation = plan.formulation.name
        self._form = plan.formulation
        self._input_vars = in_vars
        self._bounds = plan.bounds
        return in_vars

    def _encode(self, plan: _Plan) -> None:
        """Add the components of a checked build (see :func:`_plan`)."""
        if isinstance(plan, graph_encoding.GraphPlan):
            self._encode_graph(plan)
            return
        network, form, pattern_arr = plan.network, plan.formulation, plan.pattern
        n0 = network.n_inputs
        with PauseGC():
            in_vars = self._setup(plan)
            if form.builds_pattern:
                self._pattern = pattern_arr
            self.layer = pyo.Block(range(1, len(network) + 1))
            prev = Previous(np.array(in_vars + [None], dtype=object)[:-1], np.full(n0, np.nan))
            for k, layer in enumerate(network.layers, start=1):
                self._prev.append(prev)
                unstable = form.build_layer(self.layer[k], self._spec(k))
                self._unstable.append(unstable)
                self._unstable_sets.append(frozenset(unstable.tolist()))
                self._pre.append(_PreActivations(self, k))
                self.layer[k].pre = self._pre[-1]
                xs = [self.layer[k].x[j] for j in range(layer.n_out)]
                const = np.array([v.value if v.fixed else np.nan for v in xs], dtype=float)
                prev = Previous(np.array(xs + [None], dtype=object)[:-1], const)
            if plan.outputs is not None:
                h = self.layer[len(network)].x
                add_constraints(
                    self, "output_link",
                    {j: EqualityExpression((LinearExpression(linear_coefs=[1.0, -1.0], linear_vars=[y, h[j]]), 0.0))
                     for j, y in enumerate(plan.outputs)},
                )
        if pattern_arr is not None and not form.builds_pattern:
            self.fix_pattern(pattern_arr)

    def _encode_graph(self, plan: graph_encoding.GraphPlan) -> None:
        """Add the components of a checked build of a Graph."""
        form = plan.formulation
        with PauseGC():
            in_vars = self._setup(plan)
            self._graph = graph_encoding.GraphEncoding(self, plan, in_vars)
            if plan.outputs is not None:
                add_constraints(
                    self, "output_link",
                    {j: EqualityExpression((LinearExpression(linear_coefs=[1.0, -1.0], linear_vars=[y, h]), 0.0))
                     for j, (y, h) in enumerate(zip(plan.outputs, self._graph.outputs()))},
                )
        if plan.pattern is not None and not form.builds_pattern:
            self.fix_pattern(plan.pattern)

    def _spec(self, k: int) -> LayerSpec:
        """What layer k (1-based) is built from: its weights, activation, previous-layer terms and bounds."""
        layer = self._network.layers[k - 1]
        return LayerSpec(
            k=k,
            W=layer.W,
            b=layer.b,
            activation=layer.activation,
            prev=self._prev[k - 1],
            bounds=None if self._bounds is None else self._bounds.layers[k - 1],
            pattern=self._pattern[k - 1] if self._form.builds_pattern else None,
        )

    # -- access -----------------------------------------------------------------------------
    @property
    def network(self) -> Network | Graph:
        self._require_built()
        return self._network

    @property
    def formulation(self) -> str:
        self._require_built()
        return self._formulation

    @property
    def bounds(self):
        """The ``NetworkBounds`` used for big-M and stability (None for the pattern formulation)."""
        return self._bounds

    @property
    def inputs(self) -> list:
        """The input variables x^0 (the caller's own or ``input[i]``), as a list indexed 0..n_0-1."""
        self._require_built()
        return list(self._input_vars)

    @property
    def outputs(self) -> list:
        """The output variables h^K (``layer[K].x``), as a list indexed 0..n_K-1 (a graph: its output tensor's)."""
        self._require_built()
        if self._graph is not None:
            return self._graph.outputs()
        last = self.layer[len(self._network)]
        return [last.x[j] for j in range(self._network.n_outputs)]

    def pre(self, k: int) -> _PreActivations:
        """Pre-activations of layer k (1-based) as a mapping j -> expression (also ``layer[k].pre``); for a
        graph, of node k (0-based: an Elementwise node, or a Linear node with variables; also ``nodes[k].pre``)."""
        self._require_built()
        if self._graph is not None:
            if k not in self._graph.pre:
                raise KeyError(f"node {k} has no pre-activations (not an Elementwise node or a Linear node "
                               "with variables)")
            return self._graph.pre[k]
        return self._pre[k - 1]

    def unstable(self, k: int) -> np.ndarray:
        """Indices of the neurons of layer k (1-based) that got indicator variables (a graph: of node k)."""
        self._require_built()
        if self._graph is not None:
            return self._graph.unstable.get(k, np.empty(0, dtype=int)).copy()
        return self._unstable[k - 1].copy()

    def tensor(self, t: int) -> graph_encoding.TensorView:
        """Tensor t of a graph (0 = the input) as a mapping element j -> Pyomo term; j flat or a multi-index of
        the tensor's shape. For a Network, tensor t is layer t's output (t = 0 its input)."""
        self._require_built()
        if self._graph is None:
            raise TypeError("tensor(t) addresses the tensors of a Graph; a Network's layer k is layer[k].x")
        if not 0 <= int(t) <= len(self._network):
            raise KeyError(f"the graph has tensors 0..{len(self._network)}, got {t}")
        return graph_encoding.TensorView(self._graph, int(t))

    def node(self, k: int):
        """The Pyomo block of graph node k (``nodes[k]``): its variables ``x`` (the output tensor) and the
        formulation's components."""
        self._require_built()
        if self._graph is None:
            raise TypeError("node(k) addresses the nodes of a Graph; a Network's layer k is layer[k]")
        return self._graph.node_block(int(k))

    @property
    def n_binaries(self) -> int:
        """Number of binary variables of the block (0 for the pattern and relaxation formulations)."""
        self._require_built()
        return sum(1 for v in self.component_data_objects(pyo.Var, descend_into=True) if v.is_binary())

    def _pre_expression(self, k: int, j: int):
        """The formulation's compact form of a^k_j for a neuron with indicators, otherwise W_j h^{k-1} + b_j."""
        spec = self._spec(k)
        if j in self._unstable_sets[k - 1]:
            return self._form.pre_activation(self.layer[k], spec, j)
        return spec.affine(j)

    def _require_built(self) -> None:
        if self._network is None:
            raise RuntimeError("the NetworkBlock is empty: call .build(network, ...) first")

    # -- activation patterns ----------------------------------------------------------------
    def fix_pattern(self, pattern: Sequence[Sequence[int]]) -> None:
        """Fix the indicator variables to an activation pattern: the block becomes that pattern's LP.

        With every z / u fixed, the block's constraints are exactly the linear region of the
        pattern (Goerigk & Kurtz, Theorem 1) intersected with the bounds' box, and the affine map of
        that region: FJ with z = 1 gives x = 0, pre = -s <= 0; with z = 0 gives s = 0, pre = x >= 0;
        the big-M and hull forms with u_p = 1 give t_{p-1} <= pre <= t_p and x = a_p pre + c_p.

        Raises
        ------
        ValueError
            If the pattern has the wrong shape, or asks a neuron for a piece its bounds exclude
            (a stable neuron in another piece, or an unreachable piece): the pattern's region then
            does not meet the input domain, so the pattern LP would be infeasible.
        """
        self._require_built()
        if self._form.builds_pattern:
            raise ValueError(
                f'a formulation="{self._formulation}" block has its pattern built in; '
                "build a bigm or hull block to switch"
            )
        if self._graph is not None:
            self._graph.fix_pattern(pattern)
            return
        pat = _check_pattern(self._network, pattern)
        problems = []
        for k, (p, B) in enumerate(zip(pat, () if self._bounds is None else self._bounds.layers), start=1):
            first, last = np.asarray(B.first_piece), np.asarray(B.last_piece)
            bad = np.flatnonzero((p < first) | (p > last))
            for j in bad[:5].tolist():
                problems.append(
                    f"layer {k} neuron {j}: piece {p[j]} but the bounds [{B.lower[j]:.6g}, {B.upper[j]:.6g}] "
                    f"allow only pieces {first[j]}..{last[j]}"
                )
            if bad.size > 5:
                problems.append(f"layer {k}: {bad.size - 5} more neurons")
        if problems:
            raise ValueError("the activation pattern is incompatible with the bounds: " + "; ".join(problems))
        for k, p in enumerate(pat, start=1):
            self._form.fix_layer(self.layer[k], self._spec(k), p)
        self._pattern = pat

    def unfix_pattern(self) -> None:
        """Undo :meth:`fix_pattern`: the indicators are free (binary, or [0, 1] for a relaxation) again."""
        self._require_built()
        if self._form.builds_pattern:
            raise ValueError(f'a formulation="{self._formulation}" block has its pattern built in')
        if self._graph is not None:
            self._graph.unfix_pattern()
            return
        for k in range(1, len(self._network) + 1):
            self._form.unfix_layer(self.layer[k], self._spec(k))
        self._pattern = None

    @property
    def pattern(self):
        """The fixed activation pattern (tuple per layer of int arrays; a graph: dict per node) or None."""
        if self._graph is not None:
            pat = self._graph.pattern
            return None if pat is None else {k: np.asarray(p).copy() for k, p in pat.items()}
        return None if self._pattern is None else tuple(np.asarray(p).copy() for p in self._pattern)


class NetworkBlock(CustomBlock):
    """A trained network y = f(x) as a Pyomo block component.

    Three forms::

        m.nn = NetworkBlock(net, inputs=m.x)                 # built on construction: any keyword of build()
        m.nn = NetworkBlock(network=net, inputs=m.x, formulation="hull", bounds="lp")
        m.nn = NetworkBlock(); m.nn.build(net, inputs=m.x)   # empty, filled by build()
        m.nets = NetworkBlock(range(3))                      # indexed, m.nets[i].build(...) each

    The arguments of the one-line form are checked (and the bounds computed) when the component is
    created, so bad input raises there; the components are added when Pyomo constructs the block
    (right away in a ``ConcreteModel``).
    """

    _ComponentDataClass = NetworkBlockData
    _default_ctype = None
    _default_rule = None

    def __new__(cls, *args, **kwargs):
        if cls is NetworkBlock and _wants_build(args, kwargs):
            return CustomBlock.__new__(ScalarNetworkBlock)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args, **kwargs) -> None:
        pyomo_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _PYOMO_KEYWORDS}
        if _wants_build(args, kwargs):
            if "rule" in pyomo_kwargs:
                raise TypeError("NetworkBlock takes either a network to build or rule=, not both")
            self._pending = _Pending(_build_arguments(args, kwargs))
            pyomo_kwargs["rule"] = _build_on_construction
            args = ()
        CustomBlock.__init__(self, *args, **pyomo_kwargs)


class ScalarNetworkBlock(ScalarCustomBlockMixin, NetworkBlockData, NetworkBlock):
    """A single :class:`NetworkBlock` (what ``NetworkBlock()`` and ``NetworkBlock(network, ...)`` create)."""


class IndexedNetworkBlock(NetworkBlock):
    """An indexed :class:`NetworkBlock` (``NetworkBlock(index)``); build each element with ``build``."""


NetworkBlock._scalar_custom_block = ScalarNetworkBlock
NetworkBlock._indexed_custom_block = IndexedNetworkBlock

# Pyomo's own construction keywords of a block; every other keyword goes to build()
_PYOMO_KEYWORDS = frozenset({"rule", "concrete", "dense", "name", "doc", "ctype", "options"})
_BUILD_SIGNATURE = inspect.signature(NetworkBlockData.build)
_BUILD_NAMES = tuple(p for p in _BUILD_SIGNATURE.parameters if p != "self")


def _wants_build(args: tuple, kwargs: dict) -> bool:
    """Whether ``NetworkBlock(*args, **kwargs)`` is the one-line form (a network or build keywords given)."""
    return bool(args and isinstance(args[0], Network | Graph)) or any(k not in _PYOMO_KEYWORDS for k in kwargs)


def _build_arguments(args: tuple, kwargs: dict) -> dict:
    """The build() arguments of the one-line form, bound by name; a misuse gets one line saying what to write."""
    if args and not isinstance(args[0], Network | Graph):
        if "network" in kwargs:
            raise TypeError(
                "a NetworkBlock built on construction is a single block: write NetworkBlock(network=net, ...) "
                "without an index, or NetworkBlock(index) and then m.nn[i].build(net, ...) for each i"
            )
        raise TypeError(
            f"NetworkBlock's first argument must be the nnblocks.Network, got {type(args[0]).__name__}; "
            "write NetworkBlock(net, inputs=m.x, ...)"
        )
    if not args and "network" not in kwargs:
        raise TypeError("NetworkBlock(...) needs the network: write NetworkBlock(net, inputs=m.x, ...)")
    try:
        bound = _BUILD_SIGNATURE.bind(None, *args, **kwargs)
    except TypeError as e:
        raise TypeError(
            f"NetworkBlock(...): {e}; it takes the network, then the keywords of build() "
            f"({', '.join(_BUILD_NAMES[1:])}) and Pyomo's name, doc, dense, concrete, ctype"
        ) from None
    arguments = dict(bound.arguments)
    del arguments["self"]
    return arguments


@dataclass
class _Plan:
    """A checked build: everything is validated and the bounds computed, nothing added to a model yet."""

    network: Network
    formulation: Formulation
    inputs: list | None  # the caller's input variables, or None for the block's own input[i]
    lower: np.ndarray  # the input box the bounds were computed over
    upper: np.ndarray
    bounds: Any  # NetworkBounds, or None for the pattern formulation
    pattern: tuple[np.ndarray, ...] | None
    outputs: list | None  # the caller's output variables, or None


def _plan(network, inputs, input_bounds, formulation, bounds, ball, pattern, outputs) -> _Plan:
    """Check the build arguments and compute the bounds: everything that can fail, before any component exists."""
    if not isinstance(network, Network | Graph):
        raise TypeError(f"network must be an nnblocks.Network or nnblocks.graph.Graph, got {type(network).__name__}")
    form = get_formulation(formulation)
    if form.builds_pattern and pattern is None:
        raise ValueError(f'formulation="{form.name}" needs pattern=... (e.g. network.activation_pattern(x))')
    n0 = network.n_inputs
    in_vars = None
    if inputs is None:
        lower, upper = _input_box(input_bounds, n0)
    else:
        if input_bounds is not None:
            raise ValueError("give either inputs (the bounds are the variables' bounds) or input_bounds, not both")
        in_vars = _var_list(inputs, n0)
        lower, upper = _var_box(in_vars)
    out_vars = None if outputs is None else _var_list(outputs, network.n_outputs, "outputs")
    if isinstance(network, Graph):
        gb = _resolve_graph_bounds(network, lower, upper, bounds, ball) if form.needs_bounds else None
        return graph_encoding.plan(network, form, in_vars, lower, upper, gb, pattern, out_vars)
    pattern_arr = _check_pattern(network, pattern) if pattern is not None else None
    nb = None
    if form.needs_bounds:
        nb = _resolve_bounds(network, lower, upper, bounds, ball)
        for k, B in enumerate(nb.layers, start=1):
            _check_finite(k, np.asarray(B.lower), np.asarray(B.upper), np.asarray(B.first_piece),
                          np.asarray(B.last_piece), lower, upper)
    return _Plan(network, form, in_vars, lower, upper, nb, pattern_arr, out_vars)


def _var_box(in_vars: list) -> tuple[np.ndarray, np.ndarray]:
    lower = np.array([-np.inf if v.lb is None else v.lb for v in in_vars], dtype=float)
    upper = np.array([np.inf if v.ub is None else v.ub for v in in_vars], dtype=float)
    return lower, upper


class _Pending:
    """The arguments of ``NetworkBlock(network, ...)`` until the block is constructed, and their checked plan.

    The plan is made at once (so that bad input raises where the block is written) unless the inputs or
    outputs are components not yet constructed (an abstract model); it is made again at construction
    if the input variables' bounds changed in between.
    """

    def __init__(self, arguments: dict) -> None:
        self.arguments = arguments
        deferred = any(
            isinstance(arguments.get(k), Component) and not arguments[k].is_constructed() for k in ("inputs", "outputs")
        )
        self.plan = None if deferred else _plan(**self._all_arguments())

    def _all_arguments(self) -> dict:
        defaults = {k: p.default for k, p in _BUILD_SIGNATURE.parameters.items() if k != "self"}
        return {**defaults, **self.arguments}

    def current_plan(self) -> _Plan:
        plan = self.plan
        if plan is not None and plan.inputs is not None:
            lower, upper = _var_box(plan.inputs)
            if not (np.array_equal(lower, plan.lower) and np.array_equal(upper, plan.upper)):
                plan = None
        return plan if plan is not None else _plan(**self._all_arguments())


def _build_on_construction(block: NetworkBlockData) -> None:
    """Construction rule of ``NetworkBlock(network, ...)``: encode the network given there (a module-level
    function, so that the model pickles); the arguments are dropped once the block is built."""
    pending, block._pending = block._pending, None
    if block._network is not None:
        raise RuntimeError("this NetworkBlock is already built; create a new NetworkBlock")
    block._encode(pending.current_plan())


def _resolve_graph_bounds(graph, lower, upper, bounds, ball):
    """The GraphBounds to use: given, or computed over the input box (intersected with the ball)."""
    from nnblocks import bounds as nb_bounds

    if isinstance(bounds, nb_bounds.GraphBounds):
        return bounds
    from nnblocks.bounds.graph import GRAPH_METHODS

    if not isinstance(bounds, str) or bounds not in GRAPH_METHODS:
        names = ", ".join(f'"{name}"' for name in GRAPH_METHODS)
        raise ValueError(f"bounds of a Graph must be one of {names} or a GraphBounds, got {bounds!r}")
    return nb_bounds.compute_bounds(graph, _domain(lower, upper, ball), method=bounds)


def _domain(lower, upper, ball):
    """The input box intersected with the ball dict(center=..., norm=..., radius=...) as an InputDomain."""
    from nnblocks import bounds as nb_bounds

    if ball is None:
        return nb_bounds.InputDomain.box(lower, upper)
    missing = {"center", "norm", "radius"} - set(ball)
    if missing:
        raise ValueError(f"ball needs the keys center, norm and radius; missing {sorted(missing)}")
    center = np.broadcast_to(np.asarray(ball["center"], dtype=float), lower.shape).copy()
    return nb_bounds.InputDomain(lower, upper, center=center, norm=ball["norm"], radius=float(ball["radius"]))


def _resolve_bounds(network, lower, upper, bounds, ball):
    """The NetworkBounds to use: given, or computed over the input box (intersected with the ball)."""
    from nnblocks import bounds as nb_bounds

    if isinstance(bounds, nb_bounds.NetworkBounds):
        if len(bounds.layers) != len(network) or any(
            np.shape(B.lower) != (layer.n_out,) for B, layer in zip(bounds.layers, network.layers)
        ):
            raise ValueError("the given NetworkBounds do not match the network's layer sizes")
        return bounds
    if not isinstance(bounds, str) or bounds not in nb_bounds.METHODS:
        names = ", ".join(f'"{name}"' for name in nb_bounds.METHODS)
        raise ValueError(f"bounds must be one of {names} or a NetworkBounds, got {bounds!r}")
    if ball is not None:
        missing = {"center", "norm", "radius"} - set(ball)
        if missing:
            raise ValueError(f"ball needs the keys center, norm and radius; missing {sorted(missing)}")
        center = np.broadcast_to(np.asarray(ball["center"], dtype=float), lower.shape).copy()
        domain = nb_bounds.InputDomain(lower, upper, center=center, norm=ball["norm"], radius=float(ball["radius"]))
    else:
        domain = nb_bounds.InputDomain.box(lower, upper)
    return nb_bounds.compute_bounds(network, domain, method=bounds)


def _input_box(input_bounds, n0: int) -> tuple[np.ndarray, np.ndarray]:
    if input_bounds is None:
        return np.full(n0, -np.inf), np.full(n0, np.inf)
    try:
        lo, hi = input_bounds
    except (TypeError, ValueError):
        raise ValueError("input_bounds must be a pair (lower, upper)") from None
    lo = np.broadcast_to(np.asarray(-np.inf if lo is None else lo, dtype=float), (n0,)).copy()
    hi = np.broadcast_to(np.asarray(np.inf if hi is None else hi, dtype=float), (n0,)).copy()
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
        raise ValueError("input_bounds contain NaN")
    if np.any(lo > hi):
        i = int(np.argmax(lo > hi))
        raise ValueError(f"input_bounds: lower > upper for input {i} ({lo[i]} > {hi[i]})")
    return lo, hi


def _var_list(inputs, n0: int, what: str = "inputs") -> list:
    if isinstance(inputs, IndexedComponent_slice):
        items = list(inputs)
    elif isinstance(inputs, pyo.Var):
        items = list(inputs.values())
    elif isinstance(inputs, np.ndarray):
        items = inputs.ravel().tolist()
    else:
        items = list(inputs)
    for i, v in enumerate(items):
        if not (hasattr(v, "is_variable_type") and v.is_variable_type() and not v.is_indexed()):
            raise TypeError(f"{what}[{i}] is not a scalar Pyomo variable: {v!r}")
    if len(items) != n0:
        raise ValueError(f"the network has {n0} {what} but {len(items)} {what[:-1]} variables were given")
    return items


def _check_pattern(network: Network, pattern) -> tuple[np.ndarray, ...]:
    if len(pattern) != len(network):
        raise ValueError(f"the pattern has {len(pattern)} layers, the network {len(network)}")
    out = []
    for k, (p, layer) in enumerate(zip(pattern, network.layers), start=1):
        arr = np.asarray(p)
        if arr.shape != (layer.n_out,):
            raise ValueError(f"pattern layer {k} has shape {arr.shape}, the layer has {layer.n_out} neurons")
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(arr == np.round(arr)):
                raise ValueError(f"pattern layer {k} holds non-integer piece indices")
        arr = arr.astype(int)
        P = layer.activation.n_pieces
        if np.any((arr < 0) | (arr >= P)):
            raise ValueError(f"pattern layer {k} has piece indices outside 0..{P - 1}")
        out.append(arr)
    return tuple(out)


def _check_finite(k, L, U, first, last, lower, upper) -> None:
    unstable = first != last
    bad = np.flatnonzero(unstable & ~(np.isfinite(L) & np.isfinite(U)))
    if bad.size == 0:
        return
    j = int(bad[0])
    unb = np.flatnonzero(~(np.isfinite(lower) & np.isfinite(upper))).tolist()
    hint = (
        f"inputs {unb[:10]}{' ...' if len(unb) > 10 else ''} are unbounded: give them bounds "
        "(variable bounds or input_bounds) or a norm ball"
        if unb
        else "tighten the bounds"
    )
    raise ValueError(
        f"the formulation needs finite pre-activation bounds, but layer {k} neuron {j} has "
        f"[{L[j]}, {U[j]}] ({bad.size} such neurons in the layer); {hint}"
    )
