"""Make the shipped Fashion-MNIST networks of the Rambau-Richter experiment (deterministic).

    python models/fashion-mnist/make_models.py --data DIR [--workers 2] [--cache DIR]

``DIR`` holds the original Fashion-MNIST IDX files (default: ``$NNBLOCKS_FASHION_MNIST``). Writes, next to
this script:

- ``nominal.{npz,onnx}``: 784-8-8-8-10, ReLU on every layer (Definition 2.1), seed 0;
- ``nominal_images.npz``: X (10 x 784), y, indices — per class the first test image the nominal network
  classifies correctly;
- ``greybox.{npz,onnx}``: one network trained independently (seed 1000), the grey-box experiment's stand-in;
- ``outer_1..5`` and ``outer_eval_1..15``: the first 20 networks (seeds 1, 2, ...) with
  d_osd(network, nominal) < 0.2 on the first 50 training images (Definition 3.4), found with
  :func:`nnblocks.sampling.outer`;
- ``card.json`` and ``README.md``: per network test accuracy, d_osd and d_in to the nominal, seed, settings,
  tries and acceptances.

Every network is trained by :func:`nnblocks.train.classifiers` (several seeds at once, each network equal to
:func:`nnblocks.train.classifier` with its seed) with one torch thread, so a seed always gives the same network
on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from nnblocks.datasets.fashion_mnist import CLASSES, ENV_VAR, fashion_mnist
from nnblocks.metrics import accuracy, d_in, d_osd
from nnblocks.network import Network
from nnblocks.sampling import outer
from nnblocks.train.classifier import classifiers

HERE = Path(__file__).resolve().parent
SETTINGS = {"hidden": [8, 8, 8], "epochs": 50, "lr": 0.05, "batch_size": 32, "output_relu": True}
NOMINAL_SEED = 0
GREYBOX_SEED = 1000
EPS_OSD = 0.2
N_REFERENCE = 50
N_OUTER, N_OUTER_EVAL = 5, 15
MAX_TRIES = 200
CHUNK = 12  # seeds trained together by one worker process

_DATA: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _data(path: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in _DATA:
        _DATA[split] = fashion_mnist(path, split)
    return _DATA[split]


def train_many(seeds: list[int], path: str, epochs: int) -> list[Network]:
    """The training method: the same for every network, only the seed differs.

    ``classifiers`` trains the seeds together (one batched SGD step for all); each network equals
    ``classifier(X, y, seed=s, ...)`` trained alone.
    """
    X, y = _data(path, "train")
    return classifiers(
        X,
        y,
        seeds=seeds,
        hidden=tuple(SETTINGS["hidden"]),
        epochs=epochs,
        lr=SETTINGS["lr"],
        batch_size=SETTINGS["batch_size"],
        output_relu=SETTINGS["output_relu"],
        threads=1,
        progress=False,
    )


def train(seed: int, path: str, epochs: int) -> Network:
    return train_many([seed], path, epochs)[0]


def save(network: Network, name: str) -> None:
    network.save(HERE / f"{name}.npz")
    export_onnx(network, HERE / f"{name}.onnx")


def export_onnx(network: Network, path: Path) -> None:
    """ONNX export through nnblocks.io when available, else through torch (float64, exact parameters)."""
    try:
        from nnblocks.io import to_onnx
    except ImportError:
        to_onnx = None
    if to_onnx is not None:
        to_onnx(network, path, dtype="float64")
        return
    import torch

    modules: list[torch.nn.Module] = []
    for layer in network.layers:
        linear = torch.nn.Linear(layer.n_in, layer.n_out).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(layer.W)))
            linear.bias.copy_(torch.from_numpy(np.array(layer.b)))
        modules += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*modules).eval()
    dummy = torch.zeros(1, network.n_inputs, dtype=torch.float64)
    torch.onnx.export(
        model, (dummy,), str(path), input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False,
    )


def record(network: Network, name: str, seed: int, nominal: Network, path: str) -> dict:
    Xtr, ytr = _data(path, "train")
    Xte, yte = _data(path, "test")
    return {
        "name": name,
        "seed": seed,
        "epochs": SETTINGS["epochs"],
        "train_accuracy": accuracy(network, Xtr, ytr),
        "test_accuracy": accuracy(network, Xte, yte),
        "d_osd": d_osd(network, nominal, Xtr[:N_REFERENCE]),
        "d_in": d_in(network, nominal),
    }


def _train_and_store(seeds: list[int], path: str, cache: str | None) -> list[Network]:
    networks = train_many(seeds, path, SETTINGS["epochs"])
    if cache:
        for seed, network in zip(seeds, networks):
            network.save(Path(cache) / f"seed_{seed}.npz")
    return networks


class Trainer:
    """``trainer(seed)`` returns ``train(seed)``; seeds are trained ahead, ``workers`` processes at a time.

    With a ``cache`` directory every trained network is also stored there as ``seed_<s>.npz`` and read back
    instead of retraining (the networks are deterministic, so an interrupted run resumes where it stopped).
    """

    def __init__(self, path: str, workers: int, cache: str | None = None) -> None:
        self.path, self.workers, self.cache = path, workers, cache
        self.trained: dict[int, Network] = {}
        self.lost: dict[int, list[int]] = {}
        self.time = 0.0
        if cache:
            Path(cache).mkdir(parents=True, exist_ok=True)

    def _cached(self, seed: int) -> Path | None:
        if not self.cache:
            return None
        file = Path(self.cache) / f"seed_{seed}.npz"
        return file if file.exists() else None

    def prefetch(self, seeds: list[int]) -> None:
        """Train the given seeds (those not yet available), split evenly over the worker processes."""
        todo = [s for s in seeds if s not in self.trained and self._cached(s) is None]
        if not todo:
            return
        t = time.perf_counter()
        chunks = [todo[i :: self.workers] for i in range(self.workers) if todo[i :: self.workers]]
        job = partial(_train_and_store, path=self.path, cache=self.cache)
        with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
            for chunk, nets in zip(chunks, pool.map(job, chunks)):
                self.trained.update(zip(chunk, nets))
        self.time += time.perf_counter() - t

    def __call__(self, seed: int) -> Network:
        if seed not in self.trained and self._cached(seed) is None:
            self.prefetch(list(range(seed, seed + self.workers * CHUNK)))
        network = self.trained.pop(seed) if seed in self.trained else Network.load(self._cached(seed))
        X, _ = _data(self.path, "train")
        predicted = np.bincount(np.argmax(network.forward(X), axis=1), minlength=len(CLASSES))
        self.lost[seed] = np.flatnonzero(predicted == 0).tolist()  # classes whose ReLU output unit died
        return network


def make_nominal(trainer: Trainer, card: dict) -> Network:
    nominal = trainer(NOMINAL_SEED)
    save(nominal, "nominal")
    Xte, yte = _data(trainer.path, "test")
    predicted = np.argmax(nominal.forward(Xte), axis=1)
    indices = np.array([np.flatnonzero((yte == c) & (predicted == c))[0] for c in range(len(CLASSES))])
    with open(HERE / "nominal_images.npz", "wb") as fh:
        np.savez_compressed(fh, X=Xte[indices], y=yte[indices], indices=indices)
    card["networks"]["nominal"] = record(nominal, "nominal", NOMINAL_SEED, nominal, trainer.path)
    card["nominal_images"] = {"indices": indices.tolist(), "labels": yte[indices].tolist()}
    return nominal


def make_greybox(trainer: Trainer, nominal: Network, card: dict) -> None:
    net = trainer(GREYBOX_SEED)
    save(net, "greybox")
    card["networks"]["greybox"] = record(net, "greybox", GREYBOX_SEED, nominal, trainer.path)


def make_outer(trainer: Trainer, nominal: Network, card: dict, max_tries: int = MAX_TRIES) -> None:
    Xtr, _ = _data(trainer.path, "train")
    sample = outer(
        trainer,
        nominal,
        Xtr[:N_REFERENCE],
        eps=EPS_OSD,
        n=N_OUTER + N_OUTER_EVAL,
        max_tries=max_tries,
        first_seed=1,
        progress=True,
    )
    names = [f"outer_{i + 1}" for i in range(N_OUTER)] + [f"outer_eval_{i + 1}" for i in range(N_OUTER_EVAL)]
    for name, net, seed in zip(names, sample.networks, sample.seeds):
        save(net, name)
        card["networks"][name] = record(net, name, seed, nominal, trainer.path)
    card["outer_sampling"] = {
        "eps": EPS_OSD,
        "reference_inputs": f"first {N_REFERENCE} training images",
        "requested": N_OUTER + N_OUTER_EVAL,
        "tries": sample.tries,
        "acceptances": sample.acceptances,
        "acceptance_rate": sample.acceptance_rate,
        "tried_seeds": sample.tried_seeds,
        "tried_distances": sample.tried_distances,
        "tried_lost_classes": [trainer.lost[seed] for seed in sample.tried_seeds],
    }


def write_card(card: dict) -> None:
    (HERE / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    s = card["settings"]
    lines = [
        "# Shipped Fashion-MNIST networks",
        "",
        "Networks of the Rambau-Richter experiment, made by `make_models.py` in this folder (deterministic:",
        "one torch thread, fixed seeds). Architecture 784-8-8-8-10 with ReLU on every layer including the",
        "output (Definition 2.1); inputs are pixel/255 in [0, 1]; class probabilities are softmax of the outputs.",
        "",
        f"Training (`nnblocks.train.classifier`): plain SGD, learning rate {s['lr']}, batch size {s['batch_size']},",
        "cross-entropy on softmax outputs, Glorot-uniform initial weights and zero biases, 60,000 training images;",
        f"{s['epochs']} epochs unless the table says otherwise. `d_osd` is the outer-sampling pseudo-distance",
        f"(Definition 3.4) to `nominal` on the first {N_REFERENCE} training images, `d_in` the L1 distance of all",
        "weights and biases to `nominal` (Definition 3.2). Each network is stored as `.npz` (nnblocks) and `.onnx`.",
        "",
        "| network | seed | epochs | train accuracy | test accuracy | d_osd | d_in |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in card["networks"].items():
        lines.append(
            f"| {name} | {r['seed']} | {r['epochs']} | {100 * r['train_accuracy']:.2f}% | "
            f"{100 * r['test_accuracy']:.2f}% | {r['d_osd']:.5f} | {r['d_in']:.3f} |"
        )
    o = card.get("outer_sampling")
    if o:
        lost = [bool(c) for c in o["tried_lost_classes"]]
        lost_accepted = sum(a and d < o["eps"] for a, d in zip(lost, o["tried_distances"]))
        lines += [
            "",
            "## Outer sampling",
            "",
            "`outer_1`..`outer_5` (the ORAE's sample) and `outer_eval_1`..`outer_eval_15` (fresh samples for",
            f"evaluation) are the first {o['acceptances']} networks, in seed order starting at seed 1, whose d_osd to",
            f"`nominal` is below eps = {o['eps']} ({o['reference_inputs']}). Tries: {o['tries']}, acceptances:",
            f"{o['acceptances']} (acceptance rate {100 * o['acceptance_rate']:.1f}%). d_osd of all tries: min",
            f"{min(o['tried_distances']):.3f}, median {np.median(o['tried_distances']):.3f}, max",
            f"{max(o['tried_distances']):.3f}. {sum(lost)} of the {o['tries']} tries never predict some class on the",
            "training data (the ReLU output unit of that class died in training, see Definition 2.1); of these,",
            f"{lost_accepted} were accepted.",
        ]
        if o["acceptances"] < o["requested"]:
            lines += [
                "",
                f"Only {o['acceptances']} of the {o['requested']} requested networks were accepted within the",
                f"{o['tries']} tries made; the missing `outer_eval_*` networks are not shipped.",
            ]
    lines += [
        "",
        "## Reproducing",
        "",
        "`python models/fashion-mnist/make_models.py --data DIR [--workers 2] [--cache DIR]` retrains everything",
        "(the same seeds give bitwise the same networks, whether trained alone or together with other seeds;",
        "with `--cache` every trained network is kept and an interrupted run resumes). One network, 50 epochs on",
        "one thread, costs about 1-2.5 s of CPU per epoch; trained 10-24 seeds at a time, about 0.3-0.45 s per",
        "network and epoch. The shipped set took about 80 minutes of wall-clock time on a shared 2-core machine.",
    ]
    im = card.get("nominal_images")
    if im:
        lines += [
            "",
            "## Nominal images",
            "",
            "`nominal_images.npz` holds `X` (10 x 784), `y` and `indices`: for each class the first test image",
            f"that `nominal` classifies correctly. Test-set indices per class 0..9: {im['indices']}.",
            "",
            "`greybox` is trained independently of `nominal` (its own seed, no acceptance test): the artificial",
            "nominal network of the grey-box attack.",
        ]
    (HERE / "README.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get(ENV_VAR), help="directory with the Fashion-MNIST files")
    parser.add_argument("--workers", type=int, default=2, help="parallel training processes")
    parser.add_argument("--cache", default=None, help="directory keeping every trained network (resumable runs)")
    parser.add_argument("--max-tries", type=int, default=MAX_TRIES, help="outer-sampling candidates at most")
    args = parser.parse_args()
    if not args.data:
        parser.error(f"give --data DIR or set {ENV_VAR}")
    card: dict = {"settings": SETTINGS, "networks": {}}
    trainer = Trainer(args.data, args.workers, args.cache)
    # nominal, greybox and the first outer-sampling candidates (seeds 1, 2, ...) train together
    trainer.prefetch([NOMINAL_SEED, GREYBOX_SEED, *range(1, args.workers * CHUNK - 1)])
    nominal = make_nominal(trainer, card)
    make_greybox(trainer, nominal, card)
    write_card(card)
    make_outer(trainer, nominal, card, args.max_tries)
    write_card(card)


if __name__ == "__main__":
    main()
