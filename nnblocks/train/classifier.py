"""Training dense ReLU classifiers with SGD and cross-entropy (the setting of Rambau and Richter, Section 5.1).

The network follows Definition 2.1 of the paper: every layer, the output layer included, is

    x^k = max(W^k x^{k-1} + b^k, 0),

so the outputs y = x^K are non-negative, and the classification probabilities are p = softmax(y). Training
minimises the cross-entropy of softmax(y) with plain (mini-batch) stochastic gradient descent.

torch is imported lazily (install the ``torch`` extra). Training runs in float32 on the CPU; the returned
:class:`~nnblocks.network.Network` holds the trained parameters in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnblocks.activations import Identity, ReLU
from nnblocks.network import Layer, Network

__all__ = ["classifier"]


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
    progress:
        Show a tqdm progress bar over the epochs (with the running loss).

    Returns
    -------
    Network
        The trained network, parameters in float64; its ``forward`` gives the outputs y (pre-softmax).
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

    torch = _torch()
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(int(seed))
    sizes = [X.shape[1], *hidden, n_classes]
    modules: list[Any] = []
    for k in range(len(sizes) - 1):
        linear = torch.nn.Linear(sizes[k], sizes[k + 1])
        # Glorot-uniform weights and zero biases, drawn from the seeded generator (reproducible).
        bound = float(np.sqrt(6.0 / (sizes[k] + sizes[k + 1])))
        with torch.no_grad():
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.zero_()
        modules.append(linear)
        if k < len(sizes) - 2 or output_relu:
            modules.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*modules)

    Xt = torch.from_numpy(X.astype(np.float32))
    yt = torch.from_numpy(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = Xt.shape[0]
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    model.train()
    for _ in bar:
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(Xt[batch]), yt[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        bar.set_postfix(loss=f"{total / n:.4f}")
    bar.close()

    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    layers = []
    for k, linear in enumerate(linears):
        last = k == len(linears) - 1
        activation = Identity() if last and not output_relu else ReLU()
        W = linear.weight.detach().numpy().astype(np.float64)
        b = linear.bias.detach().numpy().astype(np.float64)
        layers.append(Layer(W, b, activation))
    return Network(layers)
