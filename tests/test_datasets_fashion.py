"""Fashion-MNIST IDX reader and the shipped-model locator."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data

from nnblocks.datasets import CLASSES, fashion_mnist, load_shipped, nominal_images, shipped_model
from nnblocks.datasets.fashion_mnist import ENV_VAR


def _write_idx(path: Path, magic: int, array: np.ndarray, dims: tuple[int, ...] | None = None) -> None:
    dims = array.shape if dims is None else dims
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in dims)
    with gzip.open(path, "wb") as fh:
        fh.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = np.array([3, 0, 9, 1, 3], dtype=np.uint8)
    for prefix in ("train", "t10k"):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", 2051, images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", 2049, labels)
    return tmp_path, images, labels


def test_reads_tiny_idx_files(tiny):
    path, images, labels = tiny
    for split in ("train", "test"):
        X, y = fashion_mnist(path, split)
        assert X.shape == (5, 784) and X.dtype == np.float64
        assert y.tolist() == labels.tolist()
        np.testing.assert_array_equal(X, images.reshape(5, -1) / 255.0)
        assert X[0, 0] == 0.0 and X[0, 1] == 1.0


def test_environment_variable(tiny, monkeypatch):
    path, _, labels = tiny
    monkeypatch.setenv(ENV_VAR, str(path))
    assert fashion_mnist(split="test")[1].tolist() == labels.tolist()
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        fashion_mnist()


def test_clear_errors(tiny):
    path, images, labels = tiny
    with pytest.raises(ValueError, match="unknown split"):
        fashion_mnist(path, "validation")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fashion_mnist(path / "nowhere")
    # wrong magic number: a label file where the images belong
    _write_idx(path / "train-images-idx3-ubyte.gz", 2049, images)
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        fashion_mnist(path, "train")
    # header promising more data than present
    _write_idx(path / "train-images-idx3-ubyte.gz", 2051, images, dims=(6, 28, 28))
    with pytest.raises(ValueError, match="declares shape"):
        fashion_mnist(path, "train")
    # image and label counts differ
    _write_idx(path / "train-images-idx3-ubyte.gz", 2051, images[:4])
    with pytest.raises(ValueError, match="4 images but"):
        fashion_mnist(path, "train")
    # not gzip at all
    (path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"plain bytes")
    with pytest.raises(ValueError, match="not a gzip"):
        fashion_mnist(path, "test")
    (path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels"):
        fashion_mnist(path, "test")


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_data_shapes_and_label_counts():
    path = shared_data("fashion-mnist")
    for split, per_class in (("train", 6000), ("test", 1000)):
        X, y = fashion_mnist(path, split)
        assert X.shape == (10 * per_class, 784)
        assert X.min() == 0.0 and X.max() == 1.0
        assert np.bincount(y).tolist() == [per_class] * len(CLASSES)


def test_shipped_nominal_and_images():
    assert shipped_model("nominal").suffix == ".onnx"
    net = load_shipped("nominal")
    assert net.layer_sizes == (784, 8, 8, 8, 10)
    X, y, indices = nominal_images()
    assert X.shape == (10, 784) and y.tolist() == list(range(10)) and indices.shape == (10,)
    assert np.all((X >= 0) & (X <= 1))
    # one correctly classified image per class
    assert np.argmax(net.forward(X), axis=1).tolist() == y.tolist()
    with pytest.raises(FileNotFoundError, match="available: .*nominal"):
        shipped_model("no_such_network")


@pytest.mark.shared_data
def test_nominal_images_are_the_test_images_at_their_indices():
    X, y, indices = nominal_images()
    Xte, yte = fashion_mnist(shared_data("fashion-mnist"), "test")
    np.testing.assert_array_equal(Xte[indices], X)
    np.testing.assert_array_equal(yte[indices], y)
