"""Pictures of adversarial examples: the nominal image, the example and their difference side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_adversarial"]


def _image_shape(n: int, shape: tuple[int, int] | None) -> tuple[int, int]:
    if shape is not None:
        if shape[0] * shape[1] != n:
            raise ValueError(f"shape {shape} does not hold {n} pixels")
        return shape
    side = int(round(np.sqrt(n)))
    if side * side != n:
        raise ValueError(f"cannot infer a square image from {n} pixels; pass shape=(rows, cols)")
    return side, side


def plot_adversarial(
    x_bar: Any,
    x_adv: Any,
    path: str | Path | None = None,
    shape: tuple[int, int] | None = None,
    titles: tuple[str, str] = ("nominal", "adversarial"),
    suptitle: str | None = None,
):
    """Three panels: x̄, x_adv (grey scale, [0, 1]) and x_adv - x̄ (diverging colours, symmetric scale).

    Returns the matplotlib Figure; writes it to ``path`` (PNG by suffix) when given.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    x_bar = np.asarray(x_bar, dtype=np.float64).reshape(-1)
    x_adv = np.asarray(x_adv, dtype=np.float64).reshape(-1)
    if x_bar.shape != x_adv.shape:
        raise ValueError(f"x_bar and x_adv differ in size: {x_bar.size} vs {x_adv.size}")
    rows, cols = _image_shape(x_bar.size, shape)
    diff = (x_adv - x_bar).reshape(rows, cols)
    lim = max(float(np.abs(diff).max()), 1e-12)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    axes[0].imshow(x_bar.reshape(rows, cols), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(titles[0])
    axes[1].imshow(x_adv.reshape(rows, cols), cmap="gray", vmin=0, vmax=1)
    axes[1].set_title(titles[1])
    im = axes[2].imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[2].set_title(f"difference (L1 = {np.abs(diff).sum():.3g})")
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0, 1, 0.92) if suptitle else None)
    if path is not None:
        fig.savefig(Path(path), dpi=110)
        plt.close(fig)
    return fig
