"""FJ adversarial example and certification on the shipped Fashion-MNIST network.

Prints the status of every solve and writes ``fj_pullover_trouser.png`` to ``--out`` (default: the current
directory; ``--out docs/img`` refreshes the picture of the documentation):

    python examples/fashion_fj.py [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nnblocks.adversarial import fj
from nnblocks.datasets import CLASSES, load_shipped, nominal_images
from nnblocks.plot.adversarial import plot_adversarial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("."), help="directory for the picture (default: .)")
    out = ap.parse_args().out
    net = load_shipped("nominal")
    X, y, _ = nominal_images()
    true, target = 2, 1  # pullover -> trouser, the paper's Figure 1
    res = fj(net, X[true], target, gamma=0.2)
    print(f"FJAE {CLASSES[true]} -> {CLASSES[target]}: status {res.status.value}, L1 distance {res.distance:.5f}, "
          f"bound {res.bound:.5f}, {res.time:.2f} s, {res.nodes} nodes, verified {res.verified}")
    print(f"model: {res.n_vars} variables, {res.n_binaries} binaries, {res.n_constraints} constraints")
    out.mkdir(parents=True, exist_ok=True)
    plot_adversarial(X[true], res.x_adv, out / "fj_pullover_trouser.png",
                     titles=(f"nominal: {CLASSES[true]}", f"FJAE: {CLASSES[target]}"),
                     suptitle=f"FJ model, gamma = 0.2, L1 distance {res.distance:.3f}")

    # certification: no adversarial example closer than 99% of the optimum ...
    below = fj(net, X[true], target, max_distance=0.99 * res.distance)
    print(f"max_distance {0.99 * res.distance:.4f}: status {below.status.value}, certificate {below.certificate}")
    # ... and one within 101%
    above = fj(net, X[true], target, max_distance=1.01 * res.distance)
    print(f"max_distance {1.01 * res.distance:.4f}: status {above.status.value}, distance {above.distance:.5f}")
    print(f"wrote {out / 'fj_pullover_trouser.png'}")


if __name__ == "__main__":
    main()
