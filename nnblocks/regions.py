"""Activation regions of a network and its affine maps on them (Goerigk & Kurtz, Theorem 1).

An activation pattern u fixes one piece per neuron of every multi-piece layer (eq. (12)). On the closed
region where every pre-activation lies in its piece's interval [beta_low, beta_up], the network is affine:
with sigma^k(a) = s^k_u * a + t^k_u (the slopes and intercepts of the chosen pieces),

    a^1 = W^1 c + b^1,      a^k = A^k_u c + g^k_u,
    A^{k+1}_u = W^{k+1} diag(s^k_u) A^k_u,   g^{k+1}_u = W^{k+1} (s^k_u * g^k_u + t^k_u) + b^{k+1},

(A^k_u, g^k_u are the W-tilde and gamma-tilde of Theorem 1), and the output is f(c) = M_u c + m_u with
M_u = diag(s^K_u) A^K_u, m_u = s^K_u * g^K_u + t^K_u. The region itself is the polyhedron

    { c : beta_low(u) <= A^k_u c + g^k_u <= beta_up(u),  k = 1..K }

(its closure: f is continuous, so the affine map also holds on the boundary). Everything is batched over
P patterns with numpy. Used by the adversarial primal heuristic and by the pattern decomposition of
network uncertainty sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnblocks._results import AsDict
from nnblocks.network import Network

__all__ = ["RegionMaps", "piece_matrix", "pre_activation_maps", "region_maps", "region_inequalities"]


@dataclass(frozen=True)
class RegionMaps(AsDict):
    """The affine maps of a network on the regions of P activation patterns.

    Attributes
    ----------
    A, g:
        Per layer k = 1..K, the pre-activation map a^k = A^k c + g^k: arrays of shape (P, n_k, n_0) and
        (P, n_k).
    M, m:
        The output map f(c) = M c + m: arrays of shape (P, n_K, n_0) and (P, n_K).
    pieces:
        The patterns, one row of piece indices per pattern (columns: the neurons of the multi-piece
        layers, in order; see :func:`piece_matrix`).
    """

    A: list[np.ndarray]
    g: list[np.ndarray]
    M: np.ndarray
    m: np.ndarray
    pieces: np.ndarray

    def __len__(self) -> int:
        return int(self.pieces.shape[0])


def _check_network(network: Network) -> None:
    if not isinstance(network, Network):
        raise TypeError(f"network must be an nnblocks Network, got {type(network).__name__}")


def _n_pattern_columns(network: Network) -> int:
    return sum(layer.n_out for layer in network.layers if layer.activation.n_pieces > 1)


def piece_matrix(network: Network, X: np.ndarray) -> np.ndarray:
    """The activation pattern of every point: piece index of each neuron of the multi-piece layers.

    Returns an int matrix with one row per point (rows of ``X``, or ``X`` itself for one point) and one
    column per neuron of a layer whose activation has more than one piece (single-piece layers are
    affine everywhere and carry no pattern).
    """
    _check_network(network)
    X2 = np.atleast_2d(np.asarray(X, dtype=np.float64))
    A = network.pre_activations(X2)
    cols = [layer.activation.piece_index(a) for layer, a in zip(network.layers, A) if layer.activation.n_pieces > 1]
    if not cols:
        return np.zeros((X2.shape[0], 0), dtype=np.int64)
    return np.concatenate(cols, axis=1).astype(np.int64)


def pre_activation_maps(
    network: Network, slopes: Sequence[np.ndarray], intercepts: Sequence[np.ndarray] | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """a^k = A^k c + g^k for k = 1..K where layer k < K acts as sigma^k(a) = slopes[k] * a + intercepts[k].

    ``slopes`` (and ``intercepts``, zero when omitted) hold one array per hidden layer k = 1..K-1, each of
    shape (P, n_k) for P regions or (n_k,) for one; a K-th entry (the last layer's) enters no
    pre-activation and only sets P. Slopes need not come from pieces (any diagonal linearisation works, e.g.
    a leaky surrogate). Returns per layer A^k of shape (P, n_k, n_0) and g^k of shape (P, n_k), or
    (n_k, n_0) and (n_k,) when every slope array is one-dimensional.
    """
    _check_network(network)
    layers = network.layers
    if len(slopes) < len(layers) - 1:
        raise ValueError(f"slopes must give one array per hidden layer ({len(layers) - 1}), got {len(slopes)}")
    if intercepts is not None and len(intercepts) < len(layers) - 1:
        raise ValueError(
            f"intercepts must give one array per hidden layer ({len(layers) - 1}), got {len(intercepts)}"
        )
    given = [np.asarray(s, dtype=np.float64) for s in slopes]
    single = all(s.ndim == 1 for s in given)
    P = max((s.shape[0] for s in given if s.ndim == 2), default=1)
    S = [np.atleast_2d(s) for s in given[: len(layers) - 1]]
    T = (
        [np.zeros_like(s) for s in S]
        if intercepts is None
        else [np.atleast_2d(np.asarray(t, dtype=np.float64)) for t in intercepts[: len(layers) - 1]]
    )
    for k, (s, t) in enumerate(zip(S, T)):
        for name, arr in (("slopes", s), ("intercepts", t)):
            if arr.shape[-1] != layers[k].n_out or arr.ndim != 2 or arr.shape[0] not in (1, P):
                raise ValueError(
                    f"{name} of layer {k + 1} must have shape (P, {layers[k].n_out}) or ({layers[k].n_out},), "
                    f"got {arr.shape}"
                )
    As, gs = [], []
    H: np.ndarray | None = None  # None: the identity map of the input layer (no product with an identity)
    hg = np.zeros((P, network.n_inputs))
    for k, layer in enumerate(layers):
        Ak = np.broadcast_to(layer.W, (P, *layer.W.shape)) if H is None else np.matmul(layer.W, H)
        gk = hg @ layer.W.T + layer.b
        As.append(Ak)
        gs.append(gk)
        if k < len(S):
            H = S[k][:, :, None] * Ak
            hg = S[k] * gk + T[k]
    if single:
        return [a[0] for a in As], [g[0] for g in gs]
    return As, gs


def _piece_slopes(network: Network, pieces: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Slopes and intercepts (P, n_k) of the chosen piece of every neuron of every layer k = 1..K."""
    P = pieces.shape[0]
    slopes, icpts = [], []
    col = 0
    for layer in network.layers:
        act = layer.activation
        if act.n_pieces > 1:
            idx = pieces[:, col : col + layer.n_out]
            col += layer.n_out
        else:
            idx = np.zeros((P, layer.n_out), dtype=np.int64)
        slopes.append(act.slopes[idx])
        icpts.append(act.intercepts[idx])
    return slopes, icpts


def _check_pieces(network: Network, pieces: np.ndarray) -> np.ndarray:
    pieces = np.atleast_2d(np.asarray(pieces))
    n_cols = _n_pattern_columns(network)
    if pieces.ndim != 2 or pieces.shape[1] != n_cols:
        raise ValueError(
            f"patterns must have {n_cols} columns (neurons of multi-piece layers), got shape {pieces.shape}"
        )
    if not np.issubdtype(pieces.dtype, np.integer):
        raise TypeError(f"patterns must be integer piece indices, got dtype {pieces.dtype}")
    col = 0
    for k, layer in enumerate(network.layers):
        if layer.activation.n_pieces > 1:
            block = pieces[:, col : col + layer.n_out]
            col += layer.n_out
            if block.min(initial=0) < 0 or block.max(initial=0) >= layer.activation.n_pieces:
                raise ValueError(f"piece indices of layer {k + 1} must lie in 0..{layer.activation.n_pieces - 1}")
    return pieces.astype(np.int64, copy=False)


def region_maps(network: Network, pieces: np.ndarray) -> RegionMaps:
    """The affine maps (Theorem 1) of ``network`` on the regions of the patterns ``pieces``.

    ``pieces`` is a (P, n) int matrix as returned by :func:`piece_matrix` (one row for one pattern).
    """
    _check_network(network)
    pieces = _check_pieces(network, pieces)
    slopes, icpts = _piece_slopes(network, pieces)
    As, gs = pre_activation_maps(network, slopes, icpts)  # the last layer's entry sets P only
    s, t = slopes[-1], icpts[-1]
    M = s[:, :, None] * As[-1]
    m = s * gs[-1] + t
    return RegionMaps(A=As, g=gs, M=M, m=m, pieces=pieces)


def region_inequalities(network: Network, maps: RegionMaps) -> list[tuple[np.ndarray, np.ndarray]]:
    """The closed region of each pattern as G c <= h (one (G, h) pair per pattern of ``maps``).

    Per multi-piece layer k, the rows A^k c + g^k <= beta_up (finite upper ends of the chosen pieces)
    followed by -(A^k c + g^k) <= -beta_low (finite lower ends), in neuron order.
    """
    _check_network(network)
    n = network.n_inputs
    layer_rows = []
    col = 0
    for layer, Ak, gk in zip(network.layers, maps.A, maps.g):
        act = layer.activation
        if act.n_pieces == 1:
            continue
        idx = maps.pieces[:, col : col + layer.n_out]
        col += layer.n_out
        plo, phi = act.piece_bounds()
        layer_rows.append((Ak, gk, plo[idx], phi[idx]))
    out = []
    for p in range(len(maps)):
        G_parts, h_parts = [], []
        for Ak, gk, blo, bhi in layer_rows:
            up, dn = np.isfinite(bhi[p]), np.isfinite(blo[p])
            G_parts += [Ak[p][up], -Ak[p][dn]]
            h_parts += [bhi[p][up] - gk[p][up], gk[p][dn] - blo[p][dn]]
        G = np.vstack(G_parts) if G_parts else np.zeros((0, n))
        h = np.concatenate(h_parts) if h_parts else np.zeros(0)
        out.append((G, h))
    return out
