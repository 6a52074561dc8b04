"""Translation between :class:`~nnblocks.Network` and other formats: ONNX, PyTorch and ``.npz``.

Every importer is exact (float64 copies of the stored weights, activations translated to their
piecewise-affine definition) and refuses what it cannot translate with an
:class:`UnsupportedOperationError` naming the operation and where it occurs.
"""

from __future__ import annotations

from pathlib import Path

from nnblocks.graph import Graph
from nnblocks.graph.serialize import is_graph_file
from nnblocks.io._common import UnsupportedOperationError
from nnblocks.io.onnx import from_onnx
from nnblocks.io.onnx_graph_export import to_onnx
from nnblocks.io.torch_graph import from_torch
from nnblocks.network import Network

__all__ = [
    "UnsupportedOperationError",
    "from_onnx",
    "from_torch",
    "load_network",
    "save_network",
    "to_onnx",
]

_SUFFIXES = (".onnx", ".npz")


def load_network(path: str | Path) -> Network | Graph:
    """Read a network from a file, choosing the format by suffix.

    Parameters
    ----------
    path:
        An ``.onnx`` model (read with :func:`from_onnx`) or an ``.npz`` file written by
        :meth:`nnblocks.Network.save` or :meth:`nnblocks.graph.Graph.save` (a graph file is read as a Graph).

    Raises
    ------
    ValueError
        For any other suffix, or a file that cannot be read as a network (not an ONNX model or ``.npz``
        archive, corrupt or truncated, or without the entries of every layer); the message names the file.
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"cannot read a network from {path.name!r}: supported suffixes are {', '.join(_SUFFIXES)}")
    if not path.exists():
        raise FileNotFoundError(f"no such network file: {path}")
    if suffix == ".onnx":
        return from_onnx(path)
    return Graph.load(path) if is_graph_file(path) else Network.load(path)


def save_network(network: Network | Graph, path: str | Path) -> None:
    """Write a network to a file, choosing the format by suffix.

    Parameters
    ----------
    network:
        The network or graph to write.
    path:
        ``.onnx`` (written by :func:`to_onnx` in float32, the format other tools expect) or ``.npz``
        (exact float64, :meth:`nnblocks.Network.save` or :meth:`nnblocks.graph.Graph.save`).

    Raises
    ------
    ValueError
        For any other suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        to_onnx(network, path)
    elif suffix == ".npz":
        network.save(path)
    else:
        raise ValueError(f"cannot write a network to {path.name!r}: supported suffixes are {', '.join(_SUFFIXES)}")
