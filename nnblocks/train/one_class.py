"""One-class (Deep SVDD style) networks for uncertainty sets (Goerigk & Kurtz, Section 4).

The network is f(c) = W3 relu(W2 relu(W1 c)) without biases (eq. (9) context: biases let f collapse to
the center), W1 of shape (50, N), W2 and W3 (50, 50). The center c_bar is fixed before training to the
mean output of the initial network over the data (entries closer to 0 than 0.01 are moved to +-0.01,
as in Deep SVDD). Training minimises the quantile loss of the papers' experiments: with the squared
distances d_i = ||f(c_i) - c_bar||^2 sorted, d_(1) <= ... <= d_(m), and t = floor(q m) (0-based),

    loss = sum_{i=1}^{k} a_i d_(t - i)  -  sum_{i=1}^{k} b_i d_(t + i),     a_i = 5 i, b_i = i, k = 5,

which pulls the k points just inside the q-quantile inwards and pushes the k points just outside
outwards (q = 0.9 for the synthetic data, 0.95 for the shortest-path data). The papers write the loss on
radii; the authors' trainer applies it to squared distances, which is what is used here. Differences
from the authors' setup, stated so results can be judged: the loss is taken over the whole training
set per step (the papers' description; the authors' code used mini-batches of 128, available through
``batch_size``), and there is no autoencoder pre-training. Adam with learning rate 1e-3 and weight decay
1e-6 (the Deep SVDD defaults); the best of ``restarts`` runs (lowest final loss over the whole set) is
returned. PyTorch is imported lazily (install the ``torch`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnblocks.activations import Identity, ReLU
from nnblocks.network import Layer, Network

__all__ = ["one_class", "quantile_loss_weights"]


def quantile_loss_weights(m: int, q: float, k: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted positions and weights of the loss: (inner positions, a, outer positions, b), 0-based.

    Positions falling outside 0..m-1 (tiny data sets) are dropped.
    """
    t = int(np.floor(q * m))
    i = np.arange(1, k + 1)
    inner, outer = t - i, t + i
    keep_in, keep_out = (inner >= 0) & (inner < m), (outer >= 0) & (outer < m)
    return inner[keep_in], 5.0 * i[keep_in], outer[keep_out], 1.0 * i[keep_out]


def one_class(
    data: Any,
    hidden: Sequence[int] = (50, 50),
    rep_dim: int = 50,
    q: float = 0.9,
    k: int = 5,
    epochs: int = 1000,
    lr: float = 1e-3,
    weight_decay: float = 1e-6,
    restarts: int = 3,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Network, np.ndarray]:
    """Train the papers' one-class network on scenario data; returns ``(network, center)``.

    Parameters
    ----------
    data
        (m, N) training scenarios (outliers included, as the authors did).
    hidden
        Widths of the ReLU layers (papers: 50, 50).
    rep_dim
        Output width (50).
    q, k
        Quantile level and number of points each side of it in the loss (see the module docstring).
    epochs, lr, weight_decay
        Adam training (1000 epochs as in the papers).
    restarts
        Independent runs; the one with the lowest final loss is returned (papers: 3).
    batch_size
        None = the whole set per step; else shuffled mini-batches, the loss per batch.
    seed
        Makes the result reproducible (torch's generator is seeded per restart).
    progress
        Show a tqdm progress bar over restarts x epochs.

    Notes
    -----
    Use the result with :meth:`nnblocks.robust.NetworkUncertaintySet.from_quantile`.
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("one_class needs PyTorch: install nnblocks[torch]") from exc
    from tqdm.auto import tqdm

    X = np.asarray(data, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"data must be an (m, N) array with m >= 2, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("data contains NaN or infinite values")
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must lie in (0, 1), got {q}")
    if restarts < 1 or epochs < 0 or k < 1:
        raise ValueError("need restarts >= 1, epochs >= 0 and k >= 1")
    m, n = X.shape
    sizes = (n, *[int(h) for h in hidden], int(rep_dim))
    Xt = torch.as_tensor(X, dtype=torch.float32)

    def make_net(gen: torch.Generator) -> torch.nn.Sequential:
        mods: list[torch.nn.Module] = []
        for j, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = torch.nn.Linear(a, b, bias=False)
            bound = 1.0 / np.sqrt(a)  # torch's default (Kaiming-uniform) range, drawn from our generator
            with torch.no_grad():
                lin.weight.uniform_(-bound, bound, generator=gen)
            mods.append(lin)
            if j < len(sizes) - 2:
                mods.append(torch.nn.ReLU())
        return torch.nn.Sequential(*mods)

    def loss_of(out: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        d = ((out - center) ** 2).sum(dim=1)
        ds, _ = torch.sort(d)
        pi, a, po, b = quantile_loss_weights(ds.shape[0], q, k)
        return (torch.as_tensor(a, dtype=ds.dtype) * ds[pi]).sum() - (torch.as_tensor(b, dtype=ds.dtype) * ds[po]).sum()

    best: tuple[float, torch.nn.Sequential, torch.Tensor] | None = None
    bar = tqdm(total=restarts * epochs, desc="one-class training", disable=not progress, leave=False)
    try:
        for r in range(restarts):
            gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + r)
            net = make_net(gen)
            with torch.no_grad():
                center = net(Xt).mean(dim=0)
                small = center.abs() < 0.01
                center[small & (center < 0)] = -0.01
                center[small & (center >= 0)] = 0.01
            opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
            for _ in range(epochs):
                if batch_size is None or batch_size >= m:
                    batches = [slice(None)]
                else:
                    perm = torch.randperm(m, generator=gen)
                    batches = [perm[s : s + batch_size] for s in range(0, m, batch_size)]
                for idx in batches:
                    opt.zero_grad()
                    loss = loss_of(net(Xt[idx]), center)
                    loss.backward()
                    opt.step()
                bar.update(1)
            with torch.no_grad():
                final = float(loss_of(net(Xt), center))
            bar.set_postfix(restart=r + 1, loss=f"{final:.4g}")
            if not np.isfinite(final):
                continue
            if best is None or final < best[0]:
                best = (final, net, center.clone())
    finally:
        bar.close()
    if best is None:
        raise RuntimeError("one-class training diverged in every restart (non-finite loss)")
    _, net, center = best
    linears = [mod for mod in net if isinstance(mod, torch.nn.Linear)]
    layers = [
        Layer(
            lin.weight.detach().double().numpy(),
            np.zeros(lin.out_features),
            ReLU() if j < len(linears) - 1 else Identity(),
        )
        for j, lin in enumerate(linears)
    ]
    return Network(layers), center.detach().double().numpy()
