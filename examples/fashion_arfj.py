"""Robust adversarial examples (IRAE, ORAE) on the shipped Fashion-MNIST networks, and their evaluation.

Prints the status of every solve and writes ``{irae,orae}_pullover_trouser.png`` and
``robustness_pullover_trouser.png`` to ``--out`` (default: the current directory; ``--out docs/img``
refreshes the pictures of the documentation). ``--time-limit`` bounds the ORAE solve (default 300 s):

    python examples/fashion_arfj.py [--out DIR] [--time-limit SECONDS]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nnblocks.adversarial import arfj, fj
from nnblocks.datasets import CLASSES, load_shipped, nominal_images
from nnblocks.metrics import evaluate
from nnblocks.plot.adversarial import plot_adversarial
from nnblocks.sampling import inner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("."), help="directory for the pictures (default: .)")
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds for the ORAE solve (default: 300)")
    args = ap.parse_args()
    out = args.out
    nominal = load_shipped("nominal")
    X, _, _ = nominal_images()
    true, target = 2, 1
    inner_set = [nominal] + inner(nominal, eps=0.05, n=5, rng=2022)  # Z_5^in: nominal + 5 samples
    outer_set = [nominal] + [load_shipped(f"outer_{i}") for i in range(1, 6)]  # Z_5^osd
    fresh_inner = inner(nominal, eps=0.05, n=15, rng=2023)
    fresh_outer = []
    for i in range(1, 16):  # the shipped fresh outer samples
        try:
            fresh_outer.append(load_shipped(f"outer_eval_{i}"))
        except FileNotFoundError:
            break
    greybox = load_shipped("greybox")

    examples = {"FJAE": fj(nominal, X[true], target), "IRAE": arfj(inner_set, X[true], target),
                "ORAE": arfj(outer_set, X[true], target, time_limit=args.time_limit)}
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for kind, res in examples.items():
        if res.x_adv is None:  # a time limit reached before any example was found
            print(f"{kind}: status {res.status.value}, no example found in {res.time:.1f} s")
            continue
        ei = evaluate(res.x_adv, fresh_inner, true, target)
        eo = evaluate(res.x_adv, fresh_outer, true, target)
        fooled = int(np.argmax(greybox.forward(res.x_adv))) == target
        rows.append((kind, ei, eo))
        print(f"{kind}: status {res.status.value}, distance {res.distance:.5f}, {res.time:.1f} s, "
              f"verified on all {len(res.margins)} networks: "
              f"{res.verified}; target share inner {ei.target_share:.0%}, outer {eo.target_share:.0%}; "
              f"grey-box network fooled: {fooled}")
        if kind != "FJAE":
            plot_adversarial(X[true], res.x_adv, out / f"{kind.lower()}_pullover_trouser.png",
                             titles=(f"nominal: {CLASSES[true]}", f"{kind}: {CLASSES[target]}"),
                             suptitle=f"{kind}, {len(res.margins)} networks, L1 distance {res.distance:.3f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, which, title in ((axes[0], 1, f"{len(fresh_inner)} fresh inner samples"),
                             (axes[1], 2, f"{len(fresh_outer)} outer_eval samples")):
        kinds = [r[0] for r in rows]
        shares = np.array([[r[which].target_share, r[which].true_share, r[which].other_share] for r in rows])
        left = np.zeros(len(rows))
        for j, (label, color) in enumerate(zip(("target", "true", "other"), ("tab:red", "tab:blue", "tab:gray"))):
            ax.barh(kinds, shares[:, j], left=left, color=color, label=label)
            left += shares[:, j]
        ax.set_title(title)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of networks classifying the example as")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"Robustness of the adversarial examples ({CLASSES[true]} -> {CLASSES[target]})")
    fig.tight_layout()
    fig.savefig(out / "robustness_pullover_trouser.png", dpi=110)
    plt.close(fig)
    print(f"wrote pictures to {out}")


if __name__ == "__main__":
    main()
