"""``NetworkBlock``: a trained piecewise-affine network y = f(x) as a Pyomo block.

A user's model gets the network with two lines::

    m.nn = NetworkBlock()
    m.nn.build(network, inputs=m.x)          # or input_bounds=(lower, upper) for the block's own inputs

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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC
from pyomo.core.base.block import BlockData, declare_custom_block
from pyomo.core.base.indexed_component_slice import IndexedComponent_slice
from pyomo.core.expr.numeric_expr import LinearExpression

from nnblocks.activations import ReLU
from nnblocks.blocks import _encode
from nnblocks.network import Network

__all__ = ["NetworkBlock", "FORMULATIONS"]

FORMULATIONS = ("bigm", "hull", "pattern", "relaxation")
_RELU = ReLU()


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


@declare_custom_block(name="NetworkBlock")
class NetworkBlockData(BlockData):
    """One network y = f(x) inside a Pyomo model (see the module docstring for the naming).

    Create with ``m.nn = NetworkBlock()`` and fill with :meth:`build`.
    """

    def __init__(self, component) -> None:
        super().__init__(component)
        self._network: Network | None = None
        self._formulation: str | None = None
        self._bounds = None
        self._input_vars: list = []
        self._kind: list[str] = []  # per layer: "relu" or "pwl"
        self._unstable: list[np.ndarray] = []
        self._unstable_sets: list[frozenset] = []
        self._prev: list[_encode._Previous] = []
        self._pre: list[_PreActivations] = []
        self._pattern = None

    # -- construction -----------------------------------------------------------------------
    def build(
        self,
        network: Network,
        inputs: Any = None,
        input_bounds: tuple[Any, Any] | None = None,
        formulation: str = "bigm",
        bounds: Any = "interval",
        ball: dict | None = None,
        pattern: Sequence[Sequence[int]] | None = None,
    ) -> NetworkBlockData:
        """Encode ``network`` on ``inputs`` (or on the block's own input variables ``input[i]``).

        Parameters
        ----------
        network:
            The :class:`~nnblocks.network.Network`.
        inputs:
            The caller's variables for the network input (an indexed Var, a list of scalar
            variables or an object array of them), used directly. ``None`` creates ``input[i]``.
        input_bounds:
            ``(lower, upper)`` (scalars or arrays, ``None``/inf for unbounded) of the block's own
            inputs; only when ``inputs`` is None.
        formulation:
            ``"bigm"`` (Fischetti–Jo for ReLU, per-piece big-M otherwise), ``"hull"`` (per-neuron
            convex hull), ``"pattern"`` (fixed activation pattern: an LP), ``"relaxation"`` (hull with
            the indicators relaxed to [0, 1]).
        bounds:
            ``"interval"`` or ``"lp"`` (computed with :func:`nnblocks.bounds.compute_bounds` over the
            inputs' bounds intersected with ``ball``) or a precomputed ``NetworkBounds``. Not used by
            the pattern formulation.
        ball:
            ``dict(center=..., norm=1 | 2 | "inf", radius=...)`` intersected with the input box for
            the bounds (the ball itself is not added as a constraint: use ``NormBall`` for that).
        pattern:
            An activation pattern (format of :meth:`Network.activation_pattern`): required for
            ``"pattern"``; for the other formulations it is fixed right away (:meth:`fix_pattern`).
        """
        if self._network is not None:
            raise RuntimeError("this NetworkBlock is already built; create a new NetworkBlock")
        if not isinstance(network, Network):
            raise TypeError(f"network must be an nnblocks.Network, got {type(network).__name__}")
        if formulation not in FORMULATIONS:
            raise ValueError(f"unknown formulation {formulation!r}; choose one of {', '.join(FORMULATIONS)}")
        if formulation == "pattern" and pattern is None:
            raise ValueError('formulation="pattern" needs pattern=... (e.g. network.activation_pattern(x))')
        n0 = network.n_inputs
        # everything that can fail is checked before the first component is added
        if inputs is None:
            lower, upper = _input_box(input_bounds, n0)
        else:
            if input_bounds is not None:
                raise ValueError("give either inputs (the bounds are the variables' bounds) or input_bounds, not both")
            in_vars = _var_list(inputs, n0)
            lower = np.array([-np.inf if v.lb is None else v.lb for v in in_vars], dtype=float)
            upper = np.array([np.inf if v.ub is None else v.ub for v in in_vars], dtype=float)
        pattern_arr = _check_pattern(network, pattern) if pattern is not None else None
        nb = None
        if formulation != "pattern":
            nb = _resolve_bounds(network, lower, upper, bounds, ball)
            for k, B in enumerate(nb.layers, start=1):
                _check_finite(k, np.asarray(B.lower), np.asarray(B.upper), np.asarray(B.first_piece),
                              np.asarray(B.last_piece), lower, upper)
        with PauseGC():
            if inputs is None:
                self.input = pyo.Var(range(n0), bounds=_encode._bounds_dict(range(n0), lower, upper))
                in_vars = [self.input[i] for i in range(n0)]
            self._network = network
            self._formulation = formulation
            self._input_vars = in_vars
            self._bounds = nb
            self.layer = pyo.Block(range(1, len(network) + 1))
            prev = _encode._Previous(np.array(in_vars + [None], dtype=object)[:-1], np.full(n0, np.nan))
            for k, layer in enumerate(network.layers, start=1):
                lb = self.layer[k]
                self._prev.append(prev)
                act, W, b = layer.activation, layer.W, layer.b
                relu = act == _RELU
                self._kind.append("relu" if relu and formulation != "pattern" else "pwl")
                if formulation == "pattern":
                    _encode.pattern_layer(lb, act, W, b, prev, pattern_arr[k - 1])
                    unstable = np.empty(0, dtype=int)
                else:
                    B = nb.layers[k - 1]
                    first, last = np.asarray(B.first_piece, dtype=int), np.asarray(B.last_piece, dtype=int)
                    L, U = np.asarray(B.lower, dtype=float), np.asarray(B.upper, dtype=float)
                    relax = formulation == "relaxation"
                    if relu:
                        stable_piece = np.where(first == last, first, -1)
                        unstable = _encode.relu_fj(lb, W, b, prev, L, U, stable_piece, relax)
                    elif formulation == "bigm":
                        unstable = _encode.pwl_bigm(lb, act, W, b, prev, L, U, first, last,
                                                    np.asarray(B.post_lower), np.asarray(B.post_upper))
                    else:
                        unstable = _encode.pwl_hull(lb, act, W, b, prev, L, U, first, last,
                                                    np.asarray(B.post_lower), np.asarray(B.post_upper), relax)
                self._unstable.append(unstable)
                self._unstable_sets.append(frozenset(unstable.tolist()))
                self._pre.append(_PreActivations(self, k))
                lb.pre = self._pre[-1]
                xs = [lb.x[j] for j in range(layer.n_out)]
                const = np.array([v.value if v.fixed else np.nan for v in xs], dtype=float)
                prev = _encode._Previous(np.array(xs + [None], dtype=object)[:-1], const)
        if pattern is not None and formulation != "pattern":
            self.fix_pattern(pattern)
        elif pattern is not None:
            self._pattern = pattern_arr
        return self

    # -- access -----------------------------------------------------------------------------
    @property
    def network(self) -> Network:
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
        """The output variables h^K (``layer[K].x``), as a list indexed 0..n_K-1."""
        self._require_built()
        last = self.layer[len(self._network)]
        return [last.x[j] for j in range(self._network.n_outputs)]

    def pre(self, k: int) -> _PreActivations:
        """Pre-activations of layer k (1-based) as a mapping j -> expression (also ``layer[k].pre``)."""
        self._require_built()
        return self._pre[k - 1]

    def unstable(self, k: int) -> np.ndarray:
        """Indices of the neurons of layer k (1-based) that got indicator variables."""
        self._require_built()
        return self._unstable[k - 1].copy()

    @property
    def n_binaries(self) -> int:
        """Number of binary variables of the block (0 for the pattern and relaxation formulations)."""
        self._require_built()
        return sum(1 for v in self.component_data_objects(pyo.Var, descend_into=True) if v.is_binary())

    def _pre_expression(self, k: int, j: int):
        lb = self.layer[k]
        if self._formulation != "pattern" and j in self._unstable_sets[k - 1]:
            if self._kind[k - 1] == "relu":
                return lb.x[j] - lb.s[j]
            if self._formulation == "bigm":
                return lb.a[j]
            B = self._bounds.layers[k - 1]
            return sum(lb.v[j, p] for p in range(int(B.first_piece[j]), int(B.last_piece[j]) + 1))
        layer = self._network.layers[k - 1]
        aff = _encode._Affine.of(layer.W, layer.b, self._prev[k - 1], np.array([j]))
        return LinearExpression(
            constant=float(aff.constant[0]), linear_coefs=aff.coefs[0], linear_vars=aff.vars[0]
        )

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
        if self._formulation == "pattern":
            raise ValueError(
                'a formulation="pattern" block has its pattern built in; build a bigm or hull block to switch'
            )
        pat = _check_pattern(self._network, pattern)
        problems = []
        for k, (p, B) in enumerate(zip(pat, self._bounds.layers), start=1):
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
            lb = self.layer[k]
            unstable = self._unstable[k - 1]
            if self._kind[k - 1] == "relu":
                for j in unstable.tolist():
                    lb.z[j].fix(1.0 if p[j] == 0 else 0.0)
            else:
                for j, q in lb.u.index_set():
                    lb.u[j, q].fix(1.0 if p[j] == q else 0.0)
        self._pattern = pat

    def unfix_pattern(self) -> None:
        """Undo :meth:`fix_pattern`: the indicators are free (binary, or [0, 1] for a relaxation) again."""
        self._require_built()
        if self._formulation == "pattern":
            raise ValueError('a formulation="pattern" block has its pattern built in')
        for k in range(1, len(self._network) + 1):
            lb = self.layer[k]
            comp = lb.z if self._kind[k - 1] == "relu" else lb.u
            for v in comp.values():
                v.unfix()
        self._pattern = None

    @property
    def pattern(self):
        """The fixed activation pattern (tuple per layer of int arrays) or None."""
        return None if self._pattern is None else tuple(np.asarray(p).copy() for p in self._pattern)


NetworkBlock: type[pyo.Block] = globals()["NetworkBlock"]  # the component class declare_custom_block made


def _resolve_bounds(network, lower, upper, bounds, ball):
    """The NetworkBounds to use: given, or computed over the input box (intersected with the ball)."""
    from nnblocks import bounds as nb_bounds

    if isinstance(bounds, nb_bounds.NetworkBounds):
        if len(bounds.layers) != len(network) or any(
            np.shape(B.lower) != (layer.n_out,) for B, layer in zip(bounds.layers, network.layers)
        ):
            raise ValueError("the given NetworkBounds do not match the network's layer sizes")
        return bounds
    if bounds not in ("interval", "lp"):
        raise ValueError(f'bounds must be "interval", "lp" or a NetworkBounds, got {bounds!r}')
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


def _var_list(inputs, n0: int) -> list:
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
            raise TypeError(f"inputs[{i}] is not a scalar Pyomo variable: {v!r}")
    if len(items) != n0:
        raise ValueError(f"the network has {n0} inputs but {len(items)} input variables were given")
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
