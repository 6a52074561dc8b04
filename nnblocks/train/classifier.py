"""Training dense ReLU classifiers with SGD and cross-entropy (the setting of Rambau and Richter, Section 5.1).

The network follows Definition 2.1 of the paper: every layer, the output layer included, is

    x^k = max(W^k x^{k-1} + b^k, 0),

so the outputs y = x^K are non-negative, and the classification probabilities are p = softmax(y). Training
minimises the cross-entropy of softmax(y) with plain (mini-batch) stochastic gradient descent.

torch is imported lazily (install the ``torch`` extra). Training runs in float32 on the CPU; the returned
:class:`~nnblocks.network.Network` holds the trained parameters in float64.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnblocks.activations import Identity, ReLU
from nnblocks.network import Layer, Network

__all__ = ["classifier", "classifiers"]


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "nnblocks.train.classifier needs PyTorch: install the 'torch' extra (pip install 'nnblocks[torch]')"
        ) from None
    return torch


def _check_data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, int]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (samples x features), got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X {X.shape}, got {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("no training data: X has 0 rows")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite entries")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("y must hold integer class labels 0..C-1")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise ValueError(f"y must hold class labels 0..C-1, found {int(y.min())}")
    return X, y, int(y.max()) + 1


def classifier(
    X: Any,
    y: Any,
    hidden: Sequence[int] = (8, 8, 8),
    epochs: int = 50,
    lr: float = 0.05,
    batch_size: int = 32,
    seed: int = 0,
    output_relu: bool = True,
    n_classes: int | None = None,
    threads: int | None = 1,
    progress: bool = True,
) -> Network:
    """Train a dense ReLU classifier with SGD on the cross-entropy of softmax outputs.

    Parameters
    ----------
    X, y:
        Training inputs (N x n_0) and integer labels 0..C-1.
    hidden:
        Sizes of the hidden layers; the paper's Fashion-MNIST network is 784-8-8-8-10, ``hidden=(8, 8, 8)``.
    epochs:
        Passes over the training data (the paper: 50).
    lr, batch_size:
        Learning rate and mini-batch size of plain SGD (no momentum, no weight decay).
    seed:
        Seeds the initialisation (Glorot-uniform weights, zero biases) and the shuffling of every epoch;
        on the CPU the same seed gives the same network.
    output_relu:
        ReLU on the output layer too, as in Definition 2.1 (outputs non-negative). With ``False`` the output
        layer is affine (logits).
    n_classes:
        Number of outputs; default ``max(y) + 1``.
    threads:
        torch CPU threads during training (restored afterwards); ``None`` keeps torch's setting. Small
        networks train fastest on one thread, and a fixed thread count keeps results reproducible.
    progress:
        Show a tqdm progress bar over the epochs (with the running loss).

    Returns
    -------
    Network
        The trained network, parameters in float64; its ``forward`` gives the outputs y (pre-softmax).

    With a ReLU output layer an output unit can die during training (negative pre-activation on all data),
    and its class is never predicted again; this depends on the seed and the learning rate, and a
    ``RuntimeWarning`` names the lost classes when it happens.
    """
    return classifiers(
        X, y, seeds=[seed], hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size,
        output_relu=output_relu, n_classes=n_classes, threads=threads, progress=progress,
    )[0]


def classifiers(
    X: Any,
    y: Any,
    seeds: Sequence[int],
    hidden: Sequence[int] = (8, 8, 8),
    epochs: int = 50,
    lr: float = 0.05,
    batch_size: int = 32,
    output_relu: bool = True,
    n_classes: int | None = None,
    threads: int | None = 1,
    progress: bool = True,
) -> list[Network]:
    """Train one network per seed, all at once; ``classifiers(X, y, seeds)[i]`` equals
    ``classifier(X, y, seed=seeds[i])`` (same arguments otherwise).

    The networks are independent — each has its own initialisation and its own shuffling, drawn from its
    own seed — but their parameters are stacked so that every SGD step of all of them is one batched matrix
    product. For networks as small as the paper's, a step costs about the same for one network as for ten, so
    this trains many networks (e.g. the candidates of outer sampling) several times faster than one by one.
    See :func:`classifier` for the arguments.
    """
    X, y, found = _check_data(X, y)
    n_classes = found if n_classes is None else int(n_classes)
    if n_classes < found:
        raise ValueError(f"n_classes={n_classes} but y contains label {found - 1}")
    hidden = [int(h) for h in hidden]
    if any(h <= 0 for h in hidden):
        raise ValueError(f"hidden layer sizes must be positive, got {hidden}")
    if epochs < 0 or batch_size <= 0 or not lr > 0:
        raise ValueError(f"need epochs >= 0, batch_size > 0, lr > 0; got {epochs}, {batch_size}, {lr}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("need at least one seed")

    torch = _torch()
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        W, b = _train_stack(torch, X, y, seeds, [X.shape[1], *hidden, n_classes], epochs, lr, batch_size,
                            output_relu, progress)
    finally:
        torch.set_num_threads(previous_threads)

    networks = []
    for i in range(len(seeds)):
        layers = []
        for k, (Wk, bk) in enumerate(zip(W, b)):
            last = k == len(W) - 1
            activation = Identity() if last and not output_relu else ReLU()
            layers.append(Layer(Wk[i].astype(np.float64), bk[i].astype(np.float64), activation))
        networks.append(Network(layers))
    for seed, network in zip(seeds, networks):
        _warn_unused_classes(network, X, n_classes, seed)
    return networks


def _warn_unused_classes(network: Network, X: np.ndarray, n_classes: int, seed: int) -> None:
    """Warn when some class wins on no training input: with a ReLU output layer (Definition 2.1) an output
    unit can die during training (its pre-activation negative on all data), and its class is then lost."""
    winners = np.bincount(np.argmax(network.forward(X), axis=1), minlength=n_classes)
    lost = np.flatnonzero(winners == 0)
    if lost.size:
        warnings.warn(
            f"network trained with seed {seed} never predicts class(es) {lost.tolist()} on the training data "
            "(a ReLU output unit died); try another seed or learning rate",
            RuntimeWarning,
            stacklevel=3,
        )


def _train_stack(
    torch: Any,
    X: np.ndarray,
    y: np.ndarray,
    seeds: list[int],
    sizes: list[int],
    epochs: int,
    lr: float,
    batch_size: int,
    output_relu: bool,
    progress: bool,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """SGD on K = len(seeds) stacked networks; returns per layer W (K, out, in) and b (K, out) as numpy.

    Written with batched matrix products instead of K ``torch.nn`` modules so that all networks advance in
    one step; each network's loss term depends only on its own parameters, so its gradient (and update) is
    the one it would get alone.
    """
    from tqdm.auto import tqdm

    K = len(seeds)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    W: list[Any] = []
    b: list[Any] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        # Glorot-uniform weights and zero biases, each network from its own generator.
        bound = float(np.sqrt(6.0 / (n_in + n_out)))
        Wk = torch.stack([torch.empty(n_out, n_in).uniform_(-bound, bound, generator=g) for g in generators])
        W.append(Wk.transpose(1, 2).contiguous().requires_grad_())  # stored as (K, in, out) for bmm
        b.append(torch.zeros(K, 1, n_out, requires_grad=True))
    params = [*W, *b]
    relu_layers = len(W) if output_relu else len(W) - 1

    Xt = torch.from_numpy(X.astype(np.float32))
    yt = torch.from_numpy(y)
    n = Xt.shape[0]
    bar = tqdm(range(epochs), desc=f"training {K} network{'s' * (K > 1)}", unit="epoch", disable=not progress,
               leave=False)
    for _ in bar:
        order = torch.stack([torch.randperm(n, generator=g) for g in generators])  # (K, n)
        total = torch.zeros(K)
        for start in range(0, n, batch_size):
            batch = order[:, start : start + batch_size]  # (K, B)
            H = Xt[batch]  # (K, B, n_0)
            for k in range(len(W)):
                H = torch.baddbmm(b[k], H, W[k])
                if k < relu_layers:
                    H = torch.relu(H)
            B = batch.shape[1]
            losses = torch.nn.functional.cross_entropy(
                H.reshape(K * B, -1), yt[batch].reshape(-1), reduction="none"
            ).reshape(K, B).mean(dim=1)
            losses.sum().backward()
            with torch.no_grad():
                for p in params:
                    p -= lr * p.grad
                    p.grad = None
                total += losses.detach() * B
        bar.set_postfix(loss=f"{float(total.mean()) / n:.4f}")
    bar.close()
    return (
        [Wk.detach().transpose(1, 2).numpy() for Wk in W],
        [bk.detach().reshape(K, -1).numpy() for bk in b],
    )
