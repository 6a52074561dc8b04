"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): reader for the original gzip-compressed IDX files.

The four files ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz`` are read from a directory given as ``path``, or else from the directory named
by the environment variable ``NNBLOCKS_FASHION_MNIST``. Images are returned as float64 rows in [0, 1]
(pixel / 255), the input domain used for the adversarial models of Rambau and Richter.

Also here: :func:`shipped_model`, :func:`load_shipped` and :func:`nominal_images`, which locate the networks
and nominal test images shipped with nnblocks (``models/fashion-mnist`` in a source checkout, the
``nnblocks/_models`` folder in an installed wheel).
"""

from __future__ import annotations

import gzip
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np

from nnblocks.graph import Graph
from nnblocks.network import Network

__all__ = [
    "CLASSES",
    "ENV_VAR",
    "fashion_mnist",
    "download_fashion_mnist",
    "shipped_model",
    "load_shipped",
    "nominal_images",
]

CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""Class names of labels 0..9."""

ENV_VAR = "NNBLOCKS_FASHION_MNIST"
"""Environment variable naming the directory with the four IDX files when no ``path`` is given."""

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049
_OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Read one gzip-compressed IDX file of unsigned bytes with the given magic number."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"Fashion-MNIST file not found: {path}") from None
    except OSError as err:  # not gzip
        raise ValueError(f"{path} is not a gzip-compressed IDX file ({err})") from None
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise ValueError(f"{path} is too short to be an IDX file ({len(raw)} bytes)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path} has IDX magic number {found}, expected {magic}")
    dims = tuple(int.from_bytes(raw[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise ValueError(
            f"{path} declares shape {dims} ({expected} bytes of data) but holds {len(raw) - header} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _directory(path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        env = os.environ.get(ENV_VAR)
        if not env:
            raise FileNotFoundError(
                f"no Fashion-MNIST directory given: pass path=... or set the environment variable {ENV_VAR} "
                "to the directory holding the four IDX files (see nnblocks.datasets.download_fashion_mnist)"
            )
        path = env
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"Fashion-MNIST directory does not exist: {directory}")
    return directory


def fashion_mnist(
    path: str | os.PathLike[str] | None = None, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Read the Fashion-MNIST training or test set.

    Parameters
    ----------
    path:
        Directory with the original gzip-compressed IDX files; default: ``$NNBLOCKS_FASHION_MNIST``.
    split:
        ``"train"`` (60,000 images) or ``"test"`` (10,000 images).

    Returns
    -------
    X, y:
        ``X`` float64 of shape (N, 784), pixel values / 255 in [0, 1], rows are the 28x28 images in row-major
        order; ``y`` int64 labels 0..9 (names in :data:`CLASSES`).
    """
    if split not in _FILES:
        raise ValueError(f"unknown split {split!r}: use 'train' or 'test'")
    directory = _directory(path)
    images_file, labels_file = _FILES[split]
    images = _read_idx(directory / images_file, _IMAGES_MAGIC, 3)
    labels = _read_idx(directory / labels_file, _LABELS_MAGIC, 1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images_file} holds {images.shape[0]} images but {labels_file} {labels.shape[0]} labels")
    if labels.size and labels.max() >= len(CLASSES):
        raise ValueError(f"{labels_file} contains label {int(labels.max())}, expected 0..{len(CLASSES) - 1}")
    X = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    return X, labels.astype(np.int64)


def download_fashion_mnist(dest: str | os.PathLike[str], base_url: str = _OFFICIAL_URL) -> Path:
    """Download the four original IDX files from the official Fashion-MNIST mirror into ``dest``.

    Files already present are kept. Returns ``dest``; use it as ``path`` of :func:`fashion_mnist` or as
    ``$NNBLOCKS_FASHION_MNIST``.
    """
    directory = Path(dest)
    directory.mkdir(parents=True, exist_ok=True)
    for name in (*_FILES["train"], *_FILES["test"]):
        target = directory / name
        if target.exists():
            continue
        partial = target.with_suffix(target.suffix + ".part")
        with urllib.request.urlopen(base_url + name) as response, open(partial, "wb") as fh:  # noqa: S310
            shutil.copyfileobj(response, fh)
        partial.replace(target)
    return directory


# -- shipped models -----------------------------------------------------------------------------------------
def _models_root() -> Path:
    """``nnblocks/_models`` in an installed wheel, else ``<repository>/models`` in a source checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_models", package.parent / "models"):
        if (candidate / "fashion-mnist").is_dir():
            return candidate
    raise FileNotFoundError(
        f"shipped models not found (looked for {package / '_models'} and {package.parent / 'models'})"
    )


def shipped_model(name: str, suffix: str = ".onnx") -> Path:
    """Path of a shipped Fashion-MNIST file, e.g. ``shipped_model("nominal")`` or ``("outer_3", ".npz")``.

    Names: ``nominal``, ``outer_1`` .. ``outer_5``, ``outer_eval_1`` .. ``outer_eval_15``, ``greybox``,
    ``nominal_images`` (suffix ``.npz``) of the dense experiment, and ``cnn``, the convolutional network (folder
    ``cnn``). A name that already has a suffix is used as is.
    """
    root = _models_root()
    directory = root / "fashion-mnist"
    file = name if Path(name).suffix else f"{name}{suffix}"
    path = directory / file
    if not path.exists():
        others = sorted(d / file for d in root.iterdir() if d.is_dir() and (d / file).exists())
        if others:
            return others[0]
        available = sorted(p.stem for d in root.iterdir() if d.is_dir() for p in d.glob("*.npz"))
        raise FileNotFoundError(f"no shipped model {file!r} in {root}; available: {', '.join(available)}")
    return path


def load_shipped(name: str) -> Network | Graph:
    """Load a shipped network (from its ``.npz`` file, which needs neither onnx nor torch): a
    :class:`~nnblocks.network.Network` for the dense ones, a :class:`~nnblocks.graph.Graph` for ``cnn``."""
    from nnblocks.graph.serialize import is_graph_file  # the graph package builds on the Network module

    path = shipped_model(name, ".npz")
    return Graph.load(path) if is_graph_file(path) else Network.load(path)


def nominal_images() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 10 nominal test images of the shipped experiment: one correctly classified test image per class.

    Returns ``(X, y, indices)``: ``X`` float64 (10, 784) in [0, 1], ``y`` the labels 0..9 (row i has label i),
    ``indices`` the positions of the images in the Fashion-MNIST test set.
    """
    with np.load(shipped_model("nominal_images", ".npz"), allow_pickle=False) as data:
        return data["X"].astype(np.float64), data["y"].astype(np.int64), data["indices"].astype(np.int64)
