"""Make the shipped Fashion-MNIST CNN ``cnn`` (deterministic: one torch thread, fixed seed).

    python models/cnn/train_cnn.py --data DIR [--epochs 8]

``DIR`` holds the original Fashion-MNIST IDX files (default: ``$NNBLOCKS_FASHION_MNIST``). Writes, next to
this script:

- ``cnn.onnx``: the trained torch model exported by ``torch.onnx.export(..., dynamo=False)`` (float32, input
  ``x`` of shape (N, 1, 28, 28), output ``y`` the 10 logits);
- ``cnn.npz``: that ONNX file read by :func:`nnblocks.from_onnx` as a :class:`~nnblocks.graph.Graph` and
  stored by :meth:`~nnblocks.graph.Graph.save` (read without onnx or torch);
- ``card.json`` and ``README.md``: architecture, settings, train and test accuracy, the largest difference
  between the graph and onnxruntime on the test set, the training time.

Architecture (inputs pixel/255 in [0, 1], per-sample shape (1, 28, 28))::

    conv 1->4, 5x5, stride 2  - ReLU - max pool 2x2  (4 x 6 x 6)
    conv 4->8, 3x3            - ReLU                 (8 x 4 x 4)
    dense 128->16 - ReLU - dense 16->10 (logits; class probabilities are their softmax)

small on purpose, so that the FJ model of one image and target stays a MILP of a few hundred binaries.
Training: Adam, learning rate 1e-3, batch size 64, cross-entropy, torch's default initialisation, seed 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from nnblocks.datasets.fashion_mnist import ENV_VAR, fashion_mnist

HERE = Path(__file__).resolve().parent
NAME = "cnn"
SEED = 0
SETTINGS = {
    "conv1": {"channels": 4, "kernel": 5, "stride": 2},
    "pool": 2,
    "conv2": {"channels": 8, "kernel": 3, "stride": 1},
    "hidden": 16,
    "epochs": 8,
    "lr": 1e-3,
    "batch_size": 64,
    "optimizer": "adam",
}


def build(torch):
    """The torch model of :data:`SETTINGS` (float32)."""
    nn = torch.nn
    c1, c2 = SETTINGS["conv1"], SETTINGS["conv2"]
    side = (28 - c1["kernel"]) // c1["stride"] + 1
    side //= SETTINGS["pool"]
    side = (side - c2["kernel"]) // c2["stride"] + 1
    return nn.Sequential(
        nn.Conv2d(1, c1["channels"], c1["kernel"], stride=c1["stride"]),
        nn.ReLU(),
        nn.MaxPool2d(SETTINGS["pool"]),
        nn.Conv2d(c1["channels"], c2["channels"], c2["kernel"], stride=c2["stride"]),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(c2["channels"] * side * side, SETTINGS["hidden"]),
        nn.ReLU(),
        nn.Linear(SETTINGS["hidden"], 10),
    )


def train(X: np.ndarray, y: np.ndarray, epochs: int):
    """Train the model of :data:`SETTINGS` with seed :data:`SEED` on one thread; returns it in eval mode."""
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    model = build(torch)
    opt = torch.optim.Adam(model.parameters(), lr=SETTINGS["lr"])
    Xt = torch.from_numpy(X.astype(np.float32)).reshape(-1, 1, 28, 28)
    yt = torch.from_numpy(y)
    gen = torch.Generator().manual_seed(SEED)
    loss_fn = torch.nn.CrossEntropyLoss()
    bs = SETTINGS["batch_size"]
    for _ in range(epochs):
        model.train()
        order = torch.randperm(Xt.shape[0], generator=gen)
        for i in range(0, Xt.shape[0], bs):
            idx = order[i : i + bs]
            opt.zero_grad()
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def accuracy(predict, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(predict(X), axis=1) == y))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help=f"Fashion-MNIST directory (default: ${ENV_VAR})")
    ap.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    ap.add_argument("--out", default=str(HERE), help="folder of the written files (default: next to this script)")
    args = ap.parse_args(argv)
    import onnxruntime as ort
    import torch

    from nnblocks.io import from_onnx

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Xtr, ytr = fashion_mnist(args.data, "train")
    Xte, yte = fashion_mnist(args.data, "test")
    t0 = time.perf_counter()
    model = train(Xtr, ytr, args.epochs)
    train_time = time.perf_counter() - t0

    onnx_path = out / f"{NAME}.onnx"
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(model, (dummy,), str(onnx_path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False)
    graph = from_onnx(onnx_path)
    graph.save(out / f"{NAME}.npz")

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def run_ort(X: np.ndarray) -> np.ndarray:
        return session.run(None, {"x": X.astype(np.float32).reshape(-1, 1, 28, 28)})[0].astype(np.float64)

    Y_graph, Y_ort = graph.forward(Xte), run_ort(Xte)
    card = {
        "settings": {**SETTINGS, "epochs": args.epochs, "seed": SEED},
        "networks": {NAME: {
            "name": NAME,
            "input_shape": list(graph.input_shape),
            "nodes": [node.op.kind for node in graph.nodes],
            "train_accuracy": accuracy(graph.forward, Xtr, ytr),
            "test_accuracy": accuracy(graph.forward, Xte, yte),
            "test_accuracy_onnxruntime": accuracy(lambda X: Y_ort, Xte, yte),
            "max_abs_difference_onnxruntime": float(np.max(np.abs(Y_graph - Y_ort))),
            "train_time_s": train_time,
        }},
        "machine": f"{platform.machine()}, python {platform.python_version()}, torch {torch.__version__}",
    }
    (out / "card.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    (out / "README.md").write_text(readme(card), encoding="utf-8")
    return card


def readme(card: dict) -> str:
    s, net = card["settings"], card["networks"][NAME]
    c1, c2 = s["conv1"], s["conv2"]
    side1 = (28 - c1["kernel"]) // c1["stride"] + 1
    side2 = side1 // s["pool"]
    side3 = (side2 - c2["kernel"]) // c2["stride"] + 1
    conv1 = f'conv 1->{c1["channels"]}, {c1["kernel"]}x{c1["kernel"]}, stride {c1["stride"]}, ReLU'
    conv2 = f'conv {c1["channels"]}->{c2["channels"]}, {c2["kernel"]}x{c2["kernel"]}, stride {c2["stride"]}, ReLU'
    acc = f'{100 * net["train_accuracy"]:.2f}% | {100 * net["test_accuracy"]:.2f}%'
    return f"""# Shipped Fashion-MNIST CNN (conv-ReLU-maxpool-conv-ReLU-dense)

`cnn` is a small convolutional network for Fashion-MNIST made by `train_cnn.py` in this folder
(deterministic: one torch thread, seed {s["seed"]}); it is read as a `nnblocks.graph.Graph`.
Inputs are pixel/255 in [0, 1] with per-sample shape (1, 28, 28); the 10 outputs are logits (class
probabilities are their softmax).

| operation | output shape |
| --- | --- |
| {conv1} | {c1["channels"]} x {side1} x {side1} |
| max pool {s["pool"]}x{s["pool"]} | {c1["channels"]} x {side2} x {side2} |
| {conv2} | {c2["channels"]} x {side3} x {side3} |
| dense {c2["channels"] * side3 * side3}->{s["hidden"]}, ReLU | {s["hidden"]} |
| dense {s["hidden"]}->10 (logits) | 10 |

Training: Adam, learning rate {s["lr"]:g}, batch size {s["batch_size"]}, cross-entropy on the logits,
torch's default initial weights, {s["epochs"]} epochs over the 60,000 training images, float32 on the CPU
({net["train_time_s"]:.0f} s on one thread; {card["machine"]}).

| network | train accuracy | test accuracy | max abs. difference to onnxruntime (test set) |
| --- | ---: | ---: | ---: |
| {NAME} | {acc} | {net["max_abs_difference_onnxruntime"]:.2e} |

Files: `cnn.onnx` (`torch.onnx.export(..., dynamo=False)`, float32) and `cnn.npz` (the ONNX file read by
`nnblocks.from_onnx` and written by `Graph.save`: float64 copies of the float32 weights). The accuracies
are those of the float64 graph; onnxruntime's test accuracy is {100 * net["test_accuracy_onnxruntime"]:.2f}%.

## Reproducing

`python models/cnn/train_cnn.py --data DIR` retrains it and rewrites every file of this folder (the same
seed gives the same network on the same machine).
"""


if __name__ == "__main__":
    main()
