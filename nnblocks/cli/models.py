"""Shipped networks by name (``nominal``, ``outer_1`` ...) wherever a command takes a network file, and
``nnblocks models``, which lists them.

The shipped networks are the ``models/`` folder of the source tree, installed with the package as
``nnblocks/_models`` (see :func:`nnblocks.datasets.shipped_model`); each family folder holds a card
(``README.md``, optionally ``card.json``) and every network as ``.npz`` and ``.onnx``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nnblocks.cli import app, usage_errors

_SUFFIXES = (".npz", ".onnx")


@dataclass(frozen=True)
class ShippedNetwork:
    """One shipped network: its name, its files and the first line of its family's card."""

    name: str
    family: str
    npz: Path
    onnx: Path | None
    card: str


def _card_line(folder: Path) -> str:
    readme = folder / "README.md"
    if not readme.is_file():
        return ""
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.strip():
            return line.lstrip("#").strip()
    return ""


@cache
def shipped_networks() -> dict[str, ShippedNetwork]:
    """Every shipped network by name (the names listed in a family's ``card.json``, else every ``.onnx`` file)."""
    from nnblocks.datasets.fashion_mnist import _models_root

    try:
        root = _models_root()
    except FileNotFoundError:
        return {}
    found: dict[str, ShippedNetwork] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        card_json = folder / "card.json"
        if card_json.is_file():
            names = list(json.loads(card_json.read_text(encoding="utf-8")).get("networks", {}))
        else:
            names = sorted(p.stem for p in folder.glob("*.onnx"))
        card = _card_line(folder)
        for name in names:
            npz, onnx = folder / f"{name}.npz", folder / f"{name}.onnx"
            if npz.is_file() and name not in found:
                found[name] = ShippedNetwork(name, folder.name, npz, onnx if onnx.is_file() else None, card)
    return found


def network_path(spec: str | Path, option: str | None = None) -> Path:
    """The file of a network given as a path or as a shipped name (``nominal``, ``outer_3.onnx`` ...).

    An existing file wins over a shipped name; a shipped name without suffix gives its ``.npz`` file (read
    without onnx). Anything else is a usage error naming the argument and listing the shipped names.
    """
    path = Path(spec)
    if path.exists():
        return path
    shipped = shipped_networks()
    if path.parent == Path(".") and path.suffix in ("", *_SUFFIXES) and path.stem in shipped:
        net = shipped[path.stem]
        if path.suffix == ".onnx" and net.onnx is not None:
            return net.onnx
        return net.npz
    names = ", ".join(shipped) if shipped else "none installed"
    raise typer.BadParameter(f"network file not found: {spec} (nor a shipped network name: {names}; "
                             f"see 'nnblocks models')", param_hint=None if option is None else f"'{option}'")


def load(spec: str | Path, option: str | None = None):
    """The network of a path or shipped name (usage errors name ``option``)."""
    from nnblocks.io import load_network

    path = network_path(spec, option)
    with usage_errors(option):
        return load_network(path)


@app.command("models")
def models_command() -> None:
    """List the shipped networks: name, file, input and output sizes, the first line of their card.

    Every command that takes a network file also takes one of these names.
    """
    from nnblocks.io import load_network

    shipped = shipped_networks()
    if not shipped:
        raise typer.BadParameter("no shipped networks found in this installation")
    table = Table(title="shipped networks (each also as .npz beside the .onnx)")
    for column, justify in (("name", "left"), ("path", "left"), ("in", "right"), ("out", "right"),
                            ("card", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for net in shipped.values():
        network = load_network(net.npz)  # a Network, or a Graph for the convolutional ones
        table.add_row(net.name, str(net.onnx or net.npz), str(network.n_inputs), str(network.n_outputs), net.card)
    Console().print(table)
