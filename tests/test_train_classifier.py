"""Training dense ReLU classifiers, and the shipped Fashion-MNIST networks against their card."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT, shared_data

from nnblocks import Identity, Network, ReLU
from nnblocks.datasets import fashion_mnist, load_shipped, shipped_model
from nnblocks.metrics import accuracy, d_in, d_osd
from nnblocks.train import classifier, classifiers

torch = pytest.importorskip("torch")

CARD = ROOT / "models" / "fashion-mnist" / "card.json"


def _blobs(seed: int = 0, n: int = 600, dim: int = 4, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """k well separated Gaussian blobs around 2 e_1, ..., 2 e_k in R^dim."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    return 2.0 * np.eye(k, dim)[y] + 0.3 * rng.normal(size=(n, dim)), y


def _torch_forward(net: Network, X: np.ndarray) -> np.ndarray:
    """Independent evaluation of ``net`` as a float64 torch module (nn.Linear + nn.ReLU)."""
    modules = []
    for layer in net.layers:
        linear = torch.nn.Linear(layer.n_in, layer.n_out).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(layer.W)))
            linear.bias.copy_(torch.from_numpy(np.array(layer.b)))
        modules.append(linear)
        if isinstance(layer.activation, ReLU):
            modules.append(torch.nn.ReLU())
    with torch.no_grad():
        return torch.nn.Sequential(*modules)(torch.from_numpy(X)).numpy()


@pytest.mark.slow
def test_trains_an_accurate_deterministic_relu_network():
    X, y = _blobs()
    kw = dict(hidden=(8, 8), epochs=20, lr=0.05, batch_size=16, progress=False)
    net = classifier(X, y, seed=0, **kw)
    assert isinstance(net, Network)
    assert net.layer_sizes == (4, 8, 8, 3)
    assert all(isinstance(layer.activation, ReLU) for layer in net.layers)  # Definition 2.1: output too
    assert all(layer.W.dtype == np.float64 for layer in net.layers)
    assert accuracy(net, X, y) > 0.95
    assert np.all(net.forward(X) >= 0)
    assert classifier(X, y, seed=0, **kw) == net  # same seed, same network
    other = classifier(X, y, seed=1, **kw)
    assert other != net
    # training several seeds at once gives exactly the networks trained one by one
    assert classifiers(X, y, seeds=[1, 0], **kw) == [other, net]
    np.testing.assert_allclose(net.forward(X), _torch_forward(net, X), rtol=1e-12, atol=1e-12)


def test_affine_output_layer():
    X, y = _blobs(1)
    net = classifier(X, y, hidden=(6,), epochs=20, batch_size=16, output_relu=False, progress=False)
    assert isinstance(net.layers[-1].activation, Identity)
    assert isinstance(net.layers[0].activation, ReLU)
    assert accuracy(net, X, y) > 0.95


def test_warns_when_a_relu_output_dies():
    X, y = _blobs()
    # seed 7 of this setting loses a class (its ReLU output unit dies): the warning names it
    with pytest.warns(RuntimeWarning, match="never predicts class"):
        net = classifier(X, y, hidden=(8, 8), epochs=20, lr=0.05, batch_size=16, seed=7, progress=False)
    assert len(set(np.argmax(net.forward(X), axis=1))) < 3


def test_bad_training_input():
    X, y = _blobs()
    with pytest.raises(ValueError, match="shape"):
        classifier(X, y[:-1], progress=False)
    with pytest.raises(ValueError, match="class labels"):
        classifier(X, y - 1, progress=False)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        classifier(Xn, y, progress=False)
    with pytest.raises(ValueError, match="n_classes"):
        classifier(X, y, n_classes=2, progress=False)
    with pytest.raises(ValueError, match="hidden"):
        classifier(X, y, hidden=(0,), progress=False)


# -- shipped models ---------------------------------------------------------------------------------------
def _card() -> dict:
    if not CARD.exists():
        pytest.skip("no card.json next to the shipped models")
    return json.loads(CARD.read_text())


def test_shipped_onnx_equals_npz():
    ort = pytest.importorskip("onnxruntime")
    X = np.random.default_rng(0).uniform(size=(20, 784))
    for name in _card()["networks"]:
        net = load_shipped(name)
        assert net.layer_sizes == (784, 8, 8, 8, 10)
        session = ort.InferenceSession(str(shipped_model(name, ".onnx")))
        feed = {session.get_inputs()[0].name: X.astype(np.float64)}
        if "float)" in session.get_inputs()[0].type:  # a float32 export
            feed = {session.get_inputs()[0].name: X.astype(np.float32)}
        np.testing.assert_allclose(session.run(None, feed)[0], net.forward(X), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.shared_data
def test_shipped_models_match_their_card():
    card = _card()
    path = shared_data("fashion-mnist")
    Xtr = fashion_mnist(path, "train")[0][:50]
    Xte, yte = fashion_mnist(path, "test")
    nominal = load_shipped("nominal")
    eps = card.get("outer_sampling", {}).get("eps", 0.2)
    for name, entry in card["networks"].items():
        net = load_shipped(name)
        assert accuracy(net, Xte, yte) == pytest.approx(entry["test_accuracy"], abs=1e-12), name
        assert d_osd(net, nominal, Xtr) == pytest.approx(entry["d_osd"], abs=1e-12), name
        assert d_in(net, nominal) == pytest.approx(entry["d_in"], rel=1e-12), name
        assert entry["test_accuracy"] > 0.8, name
        if name.startswith("outer"):
            assert entry["d_osd"] < eps, name  # a member of U^osd_eps(nominal), Definition 3.4


def test_card_outer_sampling_is_consistent():
    card = _card()
    o = card["outer_sampling"]
    assert o["tries"] == len(o["tried_seeds"]) == len(o["tried_distances"])
    accepted = [s for s, d in zip(o["tried_seeds"], o["tried_distances"]) if d < o["eps"]]
    assert o["acceptances"] == len(accepted)
    names = [f"outer_{i}" for i in range(1, 6)] + [f"outer_eval_{i}" for i in range(1, 16)]
    shipped = [name for name in names if name in card["networks"]]
    assert shipped == names[: len(accepted)]  # the accepted networks, in seed order, no gaps
    assert [card["networks"][name]["seed"] for name in shipped] == accepted
    for name in shipped:
        assert shipped_model(name, ".npz").exists() and shipped_model(name, ".onnx").exists()
