"""``nnblocks info NETWORK``: architecture, parameter count and optional bounds of a network file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nnblocks.cli import app, usage_errors
from nnblocks.io import load_network


@app.command()
def info(
    network: Annotated[Path, typer.Argument(help="Network file: .onnx or .npz (nnblocks format).")],
) -> None:
    """Show the layers, activations and parameter count of a network."""
    if not network.exists():
        raise typer.BadParameter(f"network file not found: {network}")
    with usage_errors():
        net = load_network(network)
    console = Console()
    table = Table(title=f"{network.name}: {'-'.join(map(str, net.layer_sizes))}")
    table.add_column("layer", justify="right")
    table.add_column("in", justify="right")
    table.add_column("out", justify="right")
    table.add_column("activation")
    table.add_column("|W|_max", justify="right")
    for k, layer in enumerate(net.layers, start=1):
        table.add_row(str(k), str(layer.n_in), str(layer.n_out), repr(layer.activation), f"{abs(layer.W).max():.4g}")
    console.print(table)
    console.print(f"parameters: {net.n_parameters}")
