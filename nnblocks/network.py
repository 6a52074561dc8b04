"""The exact mathematical object: a feed-forward network of dense piecewise-affine layers.

Layer k (k = 1, ..., K) maps the previous layer's output h^{k-1} (h^0 = the input) to

    a^k = W^k h^{k-1} + b^k            (pre-activation)
    h^k = sigma^k(a^k)                 (post-activation; sigma^k applied entry-wise)

with W^k of shape (n_k, n_{k-1}). All arithmetic is float64 numpy.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nnblocks.activations import PiecewiseLinear, named

__all__ = ["Layer", "Network", "ActivationPattern"]

ActivationPattern = tuple[tuple[int, ...], ...]
"""Per layer and neuron, the index of the active piece of the activation (hashable)."""


@dataclass(frozen=True, eq=False)
class Layer:
    """One dense layer: h = sigma(W h_prev + b).

    ``W`` has shape (out, in), ``b`` shape (out,). Arrays are copied to float64 and made read-only.
    """

    W: np.ndarray
    b: np.ndarray
    activation: PiecewiseLinear

    def __post_init__(self) -> None:
        W = np.array(self.W, dtype=np.float64)
        b = np.array(self.b, dtype=np.float64).reshape(-1) if np.ndim(self.b) else np.array(self.b, dtype=np.float64)
        if W.ndim != 2:
            raise ValueError(f"layer weight W must be a 2-D array (out x in), got shape {W.shape}")
        if b.shape != (W.shape[0],):
            raise ValueError(f"layer bias b must have shape ({W.shape[0]},) to match W {W.shape}, got {b.shape}")
        if not np.all(np.isfinite(W)):
            raise ValueError("layer weight W contains NaN or infinite entries")
        if not np.all(np.isfinite(b)):
            raise ValueError("layer bias b contains NaN or infinite entries")
        if not isinstance(self.activation, PiecewiseLinear):
            raise TypeError(
                f"activation must be an nnblocks activation (PiecewiseLinear), got {type(self.activation).__name__}"
            )
        W.setflags(write=False)
        b.setflags(write=False)
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "b", b)

    @property
    def n_in(self) -> int:
        return int(self.W.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.W.shape[0])


class Network:
    """A feed-forward network of dense layers with continuous piecewise-affine activations.

    Parameters
    ----------
    layers:
        The layers in order; ``Layer(W, b, activation)``. Shapes must chain:
        ``layers[k].W.shape[1] == layers[k-1].W.shape[0]``.

    Examples
    --------
    >>> import numpy as np
    >>> from nnblocks import Network, Layer, ReLU, Identity
    >>> net = Network([Layer(np.eye(2), np.zeros(2), ReLU()), Layer(np.ones((1, 2)), [0.5], Identity())])
    >>> float(net.forward([1.0, -2.0])[0])
    1.5
    """

    def __init__(self, layers: Sequence[Layer]) -> None:
        layers = list(layers)
        if not layers:
            raise ValueError("a Network needs at least one layer")
        for k, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {k} must be an nnblocks.Layer, got {type(layer).__name__}")
            if k and layer.n_in != layers[k - 1].n_out:
                raise ValueError(
                    f"layer shapes do not chain: layer {k - 1} has {layers[k - 1].n_out} outputs but "
                    f"layer {k} expects {layer.n_in} inputs"
                )
        self._layers: tuple[Layer, ...] = tuple(layers)

    # -- structure --------------------------------------------------------------------------
    @property
    def layers(self) -> tuple[Layer, ...]:
        return self._layers

    @property
    def n_inputs(self) -> int:
        return self._layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self._layers[-1].n_out

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """(n_0, n_1, ..., n_K): the input size followed by every layer's output size."""
        return (self.n_inputs, *(layer.n_out for layer in self._layers))

    def __len__(self) -> int:
        return len(self._layers)

    def __repr__(self) -> str:
        acts = ", ".join(repr(layer.activation) for layer in self._layers)
        return f"Network(sizes={'-'.join(map(str, self.layer_sizes))}, activations=[{acts}])"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Network)
            and len(self) == len(other)
            and all(
                np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) and a.activation == b.activation
                for a, b in zip(self._layers, other._layers)
            )
        )

    __hash__ = None  # type: ignore[assignment]

    # -- evaluation -------------------------------------------------------------------------
    def _as_batch(self, X: Any) -> tuple[np.ndarray, bool]:
        X = np.asarray(X, dtype=np.float64)
        single = X.ndim == 1
        X2 = X.reshape(1, -1) if single else X.reshape(X.shape[0], -1)
        if X2.shape[1] != self.n_inputs:
            raise ValueError(f"input has {X2.shape[1]} features, the network expects {self.n_inputs}")
        return X2, single

    def pre_activations(self, X: Any) -> list[np.ndarray]:
        """Pre-activations a^k of every layer, each of shape (N, n_k) (or (n_k,) for one input)."""
        H, single = self._as_batch(X)
        out = []
        for layer in self._layers:
            A = H @ layer.W.T + layer.b
            out.append(A[0] if single else A)
            H = layer.activation(A)
        return out

    def forward(self, X: Any) -> np.ndarray:
        """Network output for one input (shape (n_0,)) or a batch (shape (N, n_0)); float64."""
        H, single = self._as_batch(X)
        for layer in self._layers:
            H = layer.activation(H @ layer.W.T + layer.b)
        return H[0] if single else H

    __call__ = forward

    def activation_pattern(self, X: Any) -> ActivationPattern | list[ActivationPattern]:
        """The active piece of every neuron: one hashable pattern per input.

        For one input returns a tuple (per layer) of tuples (per neuron) of piece indices; for a batch
        a list of such patterns, so that ``set(net.activation_pattern(X))`` counts distinct patterns.
        """
        A = self.pre_activations(X)
        single = np.asarray(X).ndim == 1
        P = [layer.activation.piece_index(a) for layer, a in zip(self._layers, A)]
        if single:
            return tuple(tuple(int(v) for v in p) for p in P)
        rows = [p.tolist() for p in P]
        return [tuple(tuple(r[i]) for r in rows) for i in range(len(rows[0]))]

    # -- parameters -------------------------------------------------------------------------
    @property
    def n_parameters(self) -> int:
        return int(sum(layer.W.size + layer.b.size for layer in self._layers))

    def parameters(self) -> np.ndarray:
        """All weights and biases as one flat vector: W^1 (row-major), b^1, W^2, b^2, ..."""
        return np.concatenate([np.concatenate([layer.W.ravel(), layer.b]) for layer in self._layers])

    def with_parameters(self, theta: Any) -> Network:
        """A network of the same architecture whose parameters are ``theta`` (layout of :meth:`parameters`)."""
        theta = np.asarray(theta, dtype=np.float64).ravel()
        if theta.size != self.n_parameters:
            raise ValueError(f"parameter vector has {theta.size} entries, the network has {self.n_parameters}")
        layers, pos = [], 0
        for layer in self._layers:
            nW, nb = layer.W.size, layer.b.size
            W = theta[pos : pos + nW].reshape(layer.W.shape)
            b = theta[pos + nW : pos + nW + nb]
            pos += nW + nb
            layers.append(Layer(W, b, layer.activation))
        return Network(layers)

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the network to a ``.npz`` file.

        Format: ``n_layers`` (int); for layer k = 0, 1, ...: ``W{k}`` (out x in), ``b{k}``, and the
        activation as ``breakpoints{k}``, ``slopes{k}``, ``intercepts{k}`` plus ``kind{k}`` (its
        class name, informative). Loading rebuilds the named activation where the arrays match it.
        """
        arrays: dict[str, np.ndarray] = {"n_layers": np.array(len(self._layers)), "format": np.array("nnblocks-1")}
        for k, layer in enumerate(self._layers):
            act = layer.activation
            arrays[f"W{k}"] = layer.W
            arrays[f"b{k}"] = layer.b
            arrays[f"breakpoints{k}"] = act.breakpoints
            arrays[f"slopes{k}"] = act.slopes
            arrays[f"intercepts{k}"] = act.intercepts
            arrays[f"kind{k}"] = np.array(repr(act) if act.kind != "PiecewiseLinear" else "PiecewiseLinear")
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path | BinaryIO) -> Network:
        """Read a network written by :meth:`save`.

        Raises ``ValueError`` naming the file for anything else: a file that is not an ``.npz`` archive, a
        corrupt or truncated archive, or an archive without the entries of every layer.
        """
        arrays = _read_npz(path)
        if "n_layers" not in arrays:
            raise ValueError(f"{path} is not an nnblocks network file (no 'n_layers' entry)")
        n_layers = arrays["n_layers"]
        if n_layers.shape != () or n_layers.dtype.kind not in "iu" or int(n_layers) < 1:
            raise ValueError(f"{path}: 'n_layers' must be a positive integer, got {n_layers.tolist()!r}")
        layers = []
        for k in range(int(n_layers)):
            keys = [f"W{k}", f"b{k}", f"breakpoints{k}", f"slopes{k}", f"intercepts{k}"]
            missing = [key for key in keys if key not in arrays]
            if missing:
                raise ValueError(
                    f"{path} is truncated or not an nnblocks network file: 'n_layers' is {int(n_layers)} but "
                    f"layer {k} lacks the entries {', '.join(map(repr, missing))}"
                )
            W, b, breakpoints, slopes, intercepts = (arrays[key] for key in keys)
            layers.append(Layer(W, b, named(PiecewiseLinear(breakpoints, slopes, intercepts))))
        return cls(layers)


def _read_npz(path: str | Path | BinaryIO) -> dict[str, np.ndarray]:
    """All arrays of the ``.npz`` archive at ``path``; ValueError naming the file when it cannot be read as one."""
    if hasattr(path, "read"):  # an open binary file (np.load reads those too)
        is_zip = zipfile.is_zipfile(path)
        path.seek(0)
    else:
        with open(path, "rb") as fh:
            is_zip = zipfile.is_zipfile(fh)
    if not is_zip:
        raise ValueError(
            f"{path} is not an nnblocks network file: not an .npz (zip) archive, or a corrupt or truncated one"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path} is not a readable nnblocks network file (corrupt or truncated .npz): {exc}") from exc
    except ValueError as exc:  # e.g. an entry holding Python objects, which are never unpickled
        raise ValueError(f"{path} is not a readable nnblocks network file: {exc}") from exc
