"""Readers for the data, trained networks and kernel sets of Goerigk & Kurtz (the ``ro-dnn`` layout).

Layout below ``root`` (see the data's README)::

    2d/ and 20d/:  data/train-T-I.txt, data/test-T-I.txt      scenarios, one per line, ", "-separated
                   nn/W-T-I-3-{1,2,3}.txt, nn/c-T-I-3.txt     weights (outputs x inputs) and center c_bar
                   kernel/{alphas,sv,q,theta}-T-I-Q.txt        support vector clustering set, Q = 0.40..0.90
    path/:         data/graph.csv ("tail;head" per arc), data/{train,test}-weekends.csv (one column per arc)
                   nn/W-weekends-{1,2,3}.txt, nn/c-weekends.txt, kernel/{alphas,sv,q,theta}-weekends.txt

T is the data type (1 Gaussian, 2 mixed Gaussian, 3 polyhedral) and I the instance (its random seed).
The networks are f(c) = W3 relu(W2 relu(W1 c)) without biases; the radius R is not stored (it is a
quantile of the training radii, see :meth:`nnblocks.robust.NetworkUncertaintySet.from_quantile`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

from nnblocks.activations import Identity, ReLU
from nnblocks.network import Layer, Network

__all__ = ["KernelData", "RoDnnInstance", "RoDnnPath", "load_instance", "load_path", "load_ro_dnn_network"]

_DIMS = {2: "2d", 20: "20d", "2d": "2d", "20d": "20d"}


@dataclass(frozen=True)
class KernelData:
    """A support vector clustering set U_K = {c : sum_{i in SV} alpha_i ||Q (c - x_i)||_1 <= theta}.

    ``alphas`` holds one weight per training row, ``sv`` the 0-based indices of the support vectors
    (rows with alpha_i > 1e-5), ``Q`` the n x n weighting matrix and ``theta`` the level. ``quantile`` is
    the target share of data inside the set (the training parameter is nu = 1 - quantile).
    """

    alphas: np.ndarray
    sv: np.ndarray
    Q: np.ndarray
    theta: float
    quantile: float


@dataclass(frozen=True)
class RoDnnInstance:
    """One synthetic instance: training/test scenarios and the authors' trained one-class network.

    ``train`` has 500 rows (rows 0-24 are the uniform outliers), ``test`` 10,000 rows or ``None`` where
    the file is not part of the data. ``kernels`` maps a quantile Q (e.g. 0.9) to its :class:`KernelData`.
    """

    dim: int
    type: int
    instance: int
    network: Network
    center: np.ndarray
    train: np.ndarray
    test: np.ndarray | None
    kernels: dict[float, KernelData]


@dataclass(frozen=True)
class RoDnnPath:
    """The Chicago shortest-path data: the arc graph, travel-time scenarios, network and kernel set.

    ``graph`` is a :class:`networkx.MultiDiGraph` on nodes 0..64 whose arcs carry ``index`` (the 0-based
    line of graph.csv, i.e. the column of the travel-time files) as both key and attribute; parallel
    arcs stay distinct. ``pairs`` are the source-sink pairs of the authors' experiment.
    """

    graph: nx.MultiDiGraph
    arcs: np.ndarray
    train: np.ndarray
    test: np.ndarray
    network: Network
    center: np.ndarray
    kernel: KernelData
    pairs: tuple[tuple[int, int], ...]


PATH_PAIRS: tuple[tuple[int, int], ...] = (
    (34, 28), (52, 37), (41, 58), (53, 34), (17, 4), (21, 42), (7, 34), (29, 50), (29, 43), (11, 45),
)


def _read_matrix(path: Path, delimiter: str = ",") -> np.ndarray:
    if not path.exists():
        raise FileNotFoundError(f"ro-dnn file not found: {path}")
    arr = np.loadtxt(path, delimiter=delimiter, dtype=np.float64, ndmin=2)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{path} contains NaN or infinite values")
    return arr


def _read_vector(path: Path) -> np.ndarray:
    return _read_matrix(path).ravel()


def load_ro_dnn_network(weight_files: list[Path] | tuple[Path, ...], center_file: Path) -> tuple[Network, np.ndarray]:
    """Read f(c) = W3 relu(W2 relu(W1 c)) (zero biases) and the center c_bar from the authors' files."""
    Ws = [_read_matrix(Path(p)) for p in weight_files]
    acts = [ReLU()] * (len(Ws) - 1) + [Identity()]
    net = Network([Layer(W, np.zeros(W.shape[0]), a) for W, a in zip(Ws, acts)])
    center = _read_vector(Path(center_file))
    if center.shape != (net.n_outputs,):
        raise ValueError(f"center {center_file} has {center.size} entries, the network has {net.n_outputs} outputs")
    return net, center


def _read_kernel(folder: Path, stem: str, quantile: float) -> KernelData:
    alphas = _read_vector(folder / f"alphas-{stem}.txt")
    sv = _read_vector(folder / f"sv-{stem}.txt").astype(np.int64)
    Q = _read_matrix(folder / f"q-{stem}.txt")
    theta = float(_read_vector(folder / f"theta-{stem}.txt")[0])
    if Q.shape[0] != Q.shape[1]:
        raise ValueError(f"kernel matrix q-{stem}.txt is not square: {Q.shape}")
    if sv.size and (sv.min() < 0 or sv.max() >= alphas.size):
        raise ValueError(f"sv-{stem}.txt holds indices outside 0..{alphas.size - 1}")
    return KernelData(alphas=alphas, sv=sv, Q=Q, theta=theta, quantile=quantile)


def load_instance(root: str | Path, dim: int | str, type: int, instance: int) -> RoDnnInstance:  # noqa: A002
    """Read one synthetic instance (dim 2 or 20, type 1-3, instance number) below the ro-dnn ``root``.

    Kernel files are read for every quantile present; a missing test file gives ``test=None``.
    """
    if dim not in _DIMS:
        raise ValueError(f"dim must be 2 or 20, got {dim!r}")
    base = Path(root) / _DIMS[dim]
    if not base.is_dir():
        raise FileNotFoundError(f"ro-dnn folder not found: {base}")
    ti = f"{type}-{instance}"
    network, center = load_ro_dnn_network(
        [base / "nn" / f"W-{ti}-3-{k}.txt" for k in (1, 2, 3)], base / "nn" / f"c-{ti}-3.txt"
    )
    train = _read_matrix(base / "data" / f"train-{ti}.txt")
    test_path = base / "data" / f"test-{ti}.txt"
    test = _read_matrix(test_path) if test_path.exists() else None
    for name, arr in (("train", train), ("test", test)):
        if arr is not None and arr.shape[1] != network.n_inputs:
            raise ValueError(f"{name}-{ti}.txt has {arr.shape[1]} columns, the network expects {network.n_inputs}")
    kernels = {}
    for f in sorted((base / "kernel").glob(f"theta-{ti}-*.txt")):
        q_text = f.stem.rsplit("-", 1)[1]
        kernels[float(q_text)] = _read_kernel(base / "kernel", f"{ti}-{q_text}", float(q_text))
    return RoDnnInstance(
        dim=network.n_inputs, type=type, instance=instance, network=network, center=center,
        train=train, test=test, kernels=kernels,
    )


def load_path(root: str | Path) -> RoDnnPath:
    """Read the shortest-path data below the ro-dnn ``root`` (graph, weekend scenarios, network, kernel)."""
    base = Path(root) / "path"
    if not base.is_dir():
        raise FileNotFoundError(f"ro-dnn folder not found: {base}")
    arcs = _read_matrix(base / "data" / "graph.csv", delimiter=";").astype(np.int64)
    if arcs.shape[1] != 2:
        raise ValueError(f"graph.csv must have two columns 'tail;head', got {arcs.shape[1]}")
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(range(int(arcs.max()) + 1))
    graph.add_edges_from((int(t), int(h), j, {"index": j}) for j, (t, h) in enumerate(arcs))
    train = _read_matrix(base / "data" / "train-weekends.csv")
    test = _read_matrix(base / "data" / "test-weekends.csv")
    for name, arr in (("train", train), ("test", test)):
        if arr.shape[1] != arcs.shape[0]:
            raise ValueError(f"{name}-weekends.csv has {arr.shape[1]} columns, the graph has {arcs.shape[0]} arcs")
    network, center = load_ro_dnn_network(
        [base / "nn" / f"W-weekends-{k}.txt" for k in (1, 2, 3)], base / "nn" / "c-weekends.txt"
    )
    kernel = _read_kernel(base / "kernel", "weekends", 0.95)
    return RoDnnPath(
        graph=graph, arcs=arcs, train=train, test=test, network=network, center=center, kernel=kernel,
        pairs=PATH_PAIRS,
    )
