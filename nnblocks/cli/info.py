"""``nnblocks info NETWORK``: architecture, parameter count and optional bounds of a network file."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nnblocks.cli import app
from nnblocks.cli.models import load, network_path


@app.command()
def info(
    network: Annotated[str, typer.Argument(metavar="NETWORK",
                                           help="Network file (.onnx or .npz) or shipped name (nnblocks models).")],
) -> None:
    """Show the layers, activations and parameter count of a network."""
    path = network_path(network)
    net = load(path)
    console = Console()
    table = Table(title=f"{path.name}: {'-'.join(map(str, net.layer_sizes))}")
    table.add_column("layer", justify="right")
    table.add_column("in", justify="right")
    table.add_column("out", justify="right")
    table.add_column("activation")
    table.add_column("|W|_max", justify="right")
    for k, layer in enumerate(net.layers, start=1):
        table.add_row(str(k), str(layer.n_in), str(layer.n_out), repr(layer.activation), f"{abs(layer.W).max():.4g}")
    console.print(table)
    console.print(f"parameters: {net.n_parameters}")
