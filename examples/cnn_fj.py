"""FJ adversarial example and a certificate on the shipped Fashion-MNIST CNN (a Graph of operations).

Prints the status of every solve and writes ``cnn_pullover_shirt.png`` (image, example, difference) to
``--out`` (default: the current directory; ``--out docs/img`` refreshes the picture of the documentation):

    python examples/cnn_fj.py [--out DIR] [--time-limit 60]
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
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds for the FJ solve (default: 60)")
    args = ap.parse_args()
    cnn = load_shipped("cnn")  # a nnblocks.graph.Graph: conv, ReLU, max pool, conv, ReLU, dense, dense
    X, y, _ = nominal_images()
    true, target = 2, 6  # pullover -> shirt
    res = fj(cnn, X[true], target, gamma=0.2, time_limit=args.time_limit)
    print(f"FJ {CLASSES[true]} -> {CLASSES[target]}: status {res.status.value}, L1 distance {res.distance:.5f}, "
          f"bound {res.bound:.5f}, {res.time:.2f} s, {res.nodes} nodes, verified {res.verified}, "
          f"heuristic distance {res.heuristic_distance:.5f}")
    print(f"model: {res.n_vars} variables, {res.n_binaries} binaries, {res.n_constraints} constraints")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    plot_adversarial(X[true], res.x_adv, out / "cnn_pullover_shirt.png",
                     titles=(f"nominal: {CLASSES[true]}", f"example: {CLASSES[target]}"),
                     suptitle=f"CNN, FJ model, gamma = 0.2, L1 distance {res.distance:.3f} ({res.status.value})")

    # certification: no adversarial example within L1 distance 0.5
    cert = fj(cnn, X[true], target, max_distance=0.5, time_limit=args.time_limit)
    print(f"max_distance 0.5: status {cert.status.value}, certificate {cert.certificate}, {cert.time:.2f} s, "
          f"{cert.n_binaries} binaries")
    print(f"wrote {out / 'cnn_pullover_shirt.png'}")


if __name__ == "__main__":
    main()
