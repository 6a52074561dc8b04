"""Interval vs LP bounds on Fashion-MNIST-sized ReLU networks; interval, CROWN, alpha-CROWN, LP and the pipeline
on VNN-COMP networks.

For a 784-8-8-8-10 and a 784-256-256-10 ReLU network, over the box [0, 1]^784 and over the L1 ball of
radius 10 around an image (intersected with the box): time, mean bound width per layer and the number
of stable neurons, for interval and LP bounds.

    python benchmarks/bounds.py [--json PATH] [--skip-lp-large] [--lp-time-limit SECONDS] [--no-fashion]

Second part (``--scaling``, on by default): mnist-net_256x2 (784-256-256-10) over the Linf ball of 0.03 around
the image of ``mnistfc/vnnlib/prop_0_0.03.vnnlib`` (its box), the ACAS Xu network 1_1 over the input boxes of
properties 1 and 3, and oval21 ``cifar_base_kw`` over the Linf ball of 2/255 (pixel scale) around the center of
its first VNN-LIB box (the ONNX graph importer when it is there, else the same architecture with random
weights, as the output says): time, mean width per layer and unstable count for interval, crown, alpha-crown,
lp and the pipeline. Networks and properties come from ``../shared/data/vnncomp``.

Networks: the shipped ``models/fashion-mnist/nominal.onnx`` (784-8-8-8-10) when present; the
784-256-256-10 network (and the small one when the shipped file is missing) is trained for
``--epochs`` epochs with torch on Fashion-MNIST when the IDX files are found (``--data``), otherwise
He-initialised at random. The image is the first Fashion-MNIST test image when the data is found,
else the first shipped nominal image, else uniform random. The output states which was used.
"""

from __future__ import annotations

import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from nnblocks import Identity, Layer, Network, ReLU, from_torch
from nnblocks.bounds import InputDomain, compute_bounds

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"
console = Console(width=150)


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file: big-endian magic (dtype code, ndim), dims, then the data.

    Written here (a dozen lines) so the benchmark runs without a dataset package.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[raw[2]]
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(train images in [0, 1] as (N, 784) float32, train labels, test images) or None when missing."""
    files = [
        data / f for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
    ]
    if not all(f.exists() for f in files):
        return None
    X = read_idx(files[0]).reshape(-1, 784).astype(np.float32) / 255.0
    y = read_idx(files[1]).astype(np.int64)
    Xt = read_idx(files[2]).reshape(-1, 784).astype(np.float32) / 255.0
    return X, y, Xt


def random_network(sizes: list[int], seed: int) -> Network:
    """He-initialised ReLU network (identity output layer)."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = rng.normal(size=(n_out, n_in)) * np.sqrt(2.0 / n_in)
        act = ReLU() if k < len(sizes) - 2 else Identity()
        layers.append(Layer(W, np.zeros(n_out), act))
    return Network(layers)


def train_network(sizes: list[int], X: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> Network:
    """A ReLU classifier (identity output) trained with Adam and cross-entropy, imported with from_torch."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    mods: list[torch.nn.Module] = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(torch.nn.Linear(n_in, n_out))
        if k < len(sizes) - 2:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt), generator=gen).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    return from_torch(model)


def timed(fn, repeat: int) -> tuple[object, float, float]:
    """Result of fn() and its median wall-clock and CPU (this process) times over ``repeat`` runs.

    CPU time is reported beside wall time because a shared machine can stretch wall time arbitrarily.
    """
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return result, statistics.median(wall), statistics.median(cpu)


VNNCOMP = ROOT.parent / "shared" / "data" / "vnncomp"


def vnnlib_box(path: Path, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """The input box of the first disjunct of a VNN-LIB property (nnblocks.spec.read_vnnlib)."""
    from nnblocks import read_vnnlib

    spec = read_vnnlib(path, n_inputs=n_in)
    return np.asarray(spec.disjuncts[0].lower, dtype=np.float64), np.asarray(spec.disjuncts[0].upper, dtype=np.float64)


def cifar_graph(seed: int = 0):
    """cifar_base_kw: conv(3->8, 4x4, stride 2, pad 1) - ReLU - conv(8->16, 4x4, 2, 1) - ReLU - fc 1024->100 - ReLU -
    fc 100->10. The ONNX file through the graph importer when it is available, else random He weights."""
    from nnblocks.graph import Elementwise, Graph, Linear, Node

    path = VNNCOMP / "oval21" / "onnx" / "cifar_base_kw.onnx"
    try:
        from nnblocks.io.onnx_graph import graph_from_onnx

        return graph_from_onnx(path), f"{path.name} via nnblocks.io.onnx_graph"
    except (ImportError, OSError) as exc:
        reason = type(exc).__name__
    from nnblocks.graph.lower import conv

    rng = np.random.default_rng(seed)
    nodes, shape = [], (3, 32, 32)
    for c_in, c_out in ((3, 8), (8, 16)):
        w = rng.normal(size=(c_out, c_in, 4, 4)) * np.sqrt(2.0 / (c_in * 16))
        op, shape = conv(shape, w, np.zeros(c_out), strides=(2, 2), pads=(1, 1, 1, 1))
        nodes.append(Node(op, (len(nodes),), tuple(shape)))
        nodes.append(Node(Elementwise(ReLU(), op.out_size), (len(nodes),), tuple(shape)))
    for n_in, n_out, act in ((1024, 100, True), (100, 10, False)):
        nodes.append(Node(Linear([rng.normal(size=(n_out, n_in)) * np.sqrt(2.0 / n_in)]), (len(nodes),), (n_out,)))
        if act:
            nodes.append(Node(Elementwise(ReLU(), n_out), (len(nodes),), (n_out,)))
    return Graph((3, 32, 32), nodes), f"same architecture, random He weights (importer not available: {reason})"


def scaling_instances() -> list[tuple[str, str, object, InputDomain, str]]:
    """(network, domain, Network or Graph, domain, source) for the VNN-COMP part; missing files are skipped."""
    from nnblocks import from_onnx

    out = []
    mnist = VNNCOMP / "mnistfc" / "onnx" / "mnist-net_256x2.onnx"
    if mnist.exists():
        lo, hi = vnnlib_box(VNNCOMP / "mnistfc" / "vnnlib" / "prop_0_0.03.vnnlib", 784)
        out.append(("mnist-net_256x2", "Linf 0.03 (prop_0)", from_onnx(mnist), InputDomain.box(lo, hi), mnist.name))
    acas = VNNCOMP / "acasxu" / "onnx" / "ACASXU_run2a_1_1_batch_2000.onnx"
    if acas.exists():
        net = from_onnx(acas)
        for prop in (1, 3):
            lo, hi = vnnlib_box(VNNCOMP / "acasxu" / "vnnlib" / f"prop_{prop}.vnnlib", 5)
            out.append(("ACAS Xu 1_1", f"prop {prop} box", net, InputDomain.box(lo, hi), acas.name))
    vnn = sorted((VNNCOMP / "oval21" / "vnnlib").glob("cifar_base_kw-*.vnnlib"))
    if vnn:
        g, src = cifar_graph()
        lo, hi = vnnlib_box(vnn[0], 3072)
        eps_file = float(vnn[0].stem.split("eps")[-1])
        center, half = (lo + hi) / 2, (hi - lo) / 2 * (2 / 255) / eps_file  # 2/255 in pixels, normalised
        out.append(("cifar_base_kw", "Linf 2/255", g, InputDomain.box(center - half, center + half), src))
    return out


def graph_summary(graph, tensors) -> list[dict]:
    """Per activation input tensor (then the output): n, unstable ReLUs, mean width (box 0)."""
    from nnblocks.bounds.output import tracked_tensors

    rows = []
    consumers = graph.consumers()
    for k, t in enumerate(tracked_tensors(graph), start=1):
        lo, hi = tensors[t][0][0], tensors[t][1][0]
        acts = [graph.nodes[j].op for j in consumers[t] if hasattr(graph.nodes[j].op, "activation")]
        unstable = int(np.count_nonzero((lo < 0) & (hi > 0))) if acts else 0
        rows.append({"layer": k, "n": int(lo.size), "unstable": unstable, "mean_width": float(np.mean(hi - lo))})
    return rows


def scaling_records(lp_time_limit: float | None, pipeline_time_limit: float, cifar_lp: bool, repeat: int) -> list:
    """Interval, crown, alpha-crown, lp and the pipeline on the VNN-COMP instances."""
    from nnblocks.bounds import Pipeline
    from nnblocks.bounds.alpha import alpha_crown
    from nnblocks.bounds.crown import BallDomain, crown

    records = []
    warm = random_network([5, 8, 3], 0)  # torch's first optimiser step and imports are not timed
    compute_bounds(warm, (-np.ones(5), np.ones(5)), method="alpha-crown")
    for net_name, dom_name, net, dom, src in scaling_instances():
        console.print(f"{net_name}: {src}")
        if isinstance(net, Network):
            runs = [("interval", lambda net=net, dom=dom: compute_bounds(net, dom), repeat),
                    ("crown", lambda net=net, dom=dom: compute_bounds(net, dom, method="crown"), max(3, repeat // 4)),
                    ("alpha-crown", lambda net=net, dom=dom: compute_bounds(net, dom, method="alpha-crown"), 1),
                    ("lp", lambda net=net, dom=dom: compute_bounds(net, dom, method="lp", time_limit=lp_time_limit), 1),
                    ("pipeline", lambda net=net, dom=dom: compute_bounds(
                        net, dom, method=Pipeline(time_limit=pipeline_time_limit)), 1)]
            for method, fn, rep in runs:
                nb, seconds, cpu = timed(fn, rep)
                for row in nb.summary():
                    records.append({"network": net_name, "domain": dom_name, "method": method, "time_s": seconds,
                                    "cpu_s": cpu, "complete": nb.complete, "n_lps": nb.n_lps, "source": src,
                                    "n": row["n"], "layer": row["layer"], "unstable": row["unstable"],
                                    "mean_width": row["mean_width"]})
                console.print(f"  {dom_name}, {method}: {seconds:.3f} s", highlight=False)
            continue
        bd = BallDomain(dom.lower[None], dom.upper[None])
        runs = [("interval", lambda g=net, bd=bd: g.interval_bounds(bd.lower, bd.upper), repeat),
                ("crown", lambda g=net, bd=bd: crown(g, bd).tensors, 3),
                ("alpha-crown", lambda g=net, bd=bd: alpha_crown(g, bd, time_limit=pipeline_time_limit).tensors, 1)]
        if cifar_lp:
            console.print("  lp on a graph is not available (LP tightening takes a Network)")
        for method, fn, rep in runs:
            tensors, seconds, cpu = timed(fn, rep)
            for row in graph_summary(net, tensors):
                records.append({"network": net_name, "domain": dom_name, "method": method, "time_s": seconds,
                                "cpu_s": cpu, "complete": True, "n_lps": 0, "source": src, **row})
            console.print(f"  {dom_name}, {method}: {seconds:.3f} s", highlight=False)
    return records


def print_scaling(records: list) -> None:
    table = Table(title="Bounds that scale: interval, CROWN, alpha-CROWN, LP, pipeline (one core)")
    for col in ("network", "domain", "method", "wall", "cpu", "LPs", "unstable", "mean width per layer"):
        table.add_column(col, justify="left" if col in ("network", "domain", "method") else "right")
    groups: dict = {}
    for r in records:
        groups.setdefault((r["network"], r["domain"], r["method"]), []).append(r)
    last = None
    for (net, dom, method), rows in groups.items():
        if last is not None and (net, dom) != last:
            table.add_section()
        t, c = (f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s" for v in (rows[0]["time_s"], rows[0]["cpu_s"]))
        if not rows[0]["complete"]:
            t += " (time limit)"
        table.add_row(net, dom, method, t, c, str(rows[0]["n_lps"]), str(sum(r["unstable"] for r in rows)),
                      " / ".join(f"{r['mean_width']:.4g}" for r in rows))
        last = (net, dom)
    console.print(table)


def main(
    json_path: Annotated[Path | None, typer.Option("--json", help="write the records as JSON here")] = None,
    skip_lp_large: Annotated[bool, typer.Option(help="skip LP bounds of the 784-256-256-10 network")] = False,
    lp_time_limit: Annotated[float | None, typer.Option(help="time limit (s) per LP bounds run")] = None,
    epochs: Annotated[int, typer.Option(help="training epochs for networks trained here")] = 1,
    data: Annotated[Path, typer.Option(help="folder with the Fashion-MNIST IDX files")] = DEFAULT_DATA,
    repeat: Annotated[int, typer.Option(help="interval bounds: median of this many runs")] = 20,
    fashion_part: Annotated[bool, typer.Option("--fashion/--no-fashion", help="the Fashion-MNIST part")] = True,
    scaling: Annotated[bool, typer.Option("--scaling/--no-scaling", help="the VNN-COMP part")] = True,
    pipeline_time_limit: Annotated[float, typer.Option(help="time budget (s) of the pipeline")] = 60.0,
    cifar_lp: Annotated[bool, typer.Option(help="also LP on cifar_base_kw")] = False,
) -> None:
    import os

    if os.environ.get("OMP_NUM_THREADS") != "1":
        console.print("note: set OMP_NUM_THREADS=1 for one-core timings")
    scaling_rows = scaling_records(lp_time_limit, pipeline_time_limit, cifar_lp, repeat) if scaling else []
    if scaling_rows:
        print_scaling(scaling_rows)
    if not fashion_part:
        if json_path is not None:
            json_path.write_text(json.dumps({"scaling": scaling_rows}, indent=1))
            console.print(f"records written to {json_path}")
        return
    fashion = load_fashion(data)
    nets: dict[str, tuple[Network, str]] = {}
    shipped = ROOT / "models" / "fashion-mnist" / "nominal.onnx"
    if shipped.exists():
        from nnblocks.io import load_network

        nets["784-8-8-8-10"] = (load_network(shipped), f"shipped {shipped.relative_to(ROOT)}")
    for sizes in ([784, 8, 8, 8, 10], [784, 256, 256, 10]):
        name = "-".join(map(str, sizes))
        if name in nets:
            continue
        cache = Path(tempfile.gettempdir()) / "nnblocks-benchmarks" / f"fashion-{name}-e{epochs}-s0.npz"
        if fashion is not None and cache.exists():
            nets[name] = (Network.load(cache), f"trained on Fashion-MNIST, {epochs} epoch(s) (cached {cache})")
        elif fashion is not None:
            start = time.perf_counter()
            net = train_network(sizes, fashion[0], fashion[1], epochs, seed=0)
            cache.parent.mkdir(parents=True, exist_ok=True)
            net.save(cache)
            nets[name] = (net, f"trained here on Fashion-MNIST, {epochs} epoch(s), {time.perf_counter() - start:.0f} s")
        else:
            nets[name] = (random_network(sizes, seed=0), "random He-initialised (no Fashion-MNIST data found)")
    images = ROOT / "models" / "fashion-mnist" / "nominal_images.npz"
    if fashion is not None:
        image, image_src = fashion[2][0].astype(np.float64), "Fashion-MNIST test image 0"
    elif images.exists():
        with np.load(images) as f:
            image, image_src = f["X"][0].astype(np.float64), "shipped nominal image 0 (a Fashion-MNIST test image)"
    else:
        image, image_src = np.random.default_rng(0).uniform(size=784), "uniform random image"
    domains = {
        "box [0,1]^784": InputDomain.box(np.zeros(784), np.ones(784)),
        "L1 ball r=10 ∩ box": InputDomain(np.zeros(784), np.ones(784), image, 1, 10.0),
    }
    for name, (_, src) in nets.items():
        console.print(f"network {name}: {src}")
    console.print(f"image: {image_src}")

    records = []
    for net_name, (net, _) in nets.items():
        for dom_name, dom in domains.items():
            runs = [("interval", lambda net=net, dom=dom: compute_bounds(net, dom), repeat)]
            if not (skip_lp_large and net_name == "784-256-256-10"):
                runs.append(
                    ("lp", lambda net=net, dom=dom: compute_bounds(net, dom, method="lp", time_limit=lp_time_limit), 1)
                )
            for method, fn, rep in runs:
                nb, seconds, cpu = timed(fn, rep)
                console.print(
                    f"  {net_name}, {dom_name}, {method}: {seconds * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms cpu",
                    highlight=False,
                )
                for row in nb.summary():
                    records.append(
                        {
                            "network": net_name,
                            "domain": dom_name,
                            "method": method,
                            "time_s": seconds,
                            "cpu_s": cpu,
                            "complete": nb.complete,
                            "n_lps": nb.n_lps,
                            **row,
                        }
                    )

    table = Table(title="Neuron bounds: interval vs LP (ReLU networks)")
    cols = ("network", "domain", "method", "wall", "cpu", "LPs", "layer", "n", "active", "inactive", "unstable")
    for col in (*cols, "mean width"):
        table.add_column(col, justify="left" if col in ("network", "domain", "method") else "right")
    last = None
    for r in records:
        key = (r["network"], r["domain"], r["method"])
        first = key != last
        if first and last is not None and key[:2] != last[:2]:
            table.add_section()
        t, c = (f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s" for v in (r["time_s"], r["cpu_s"]))
        if not r["complete"]:
            t += " (time limit)"
        table.add_row(
            *(key if first else ("", "", "")),
            t if first else "",
            c if first else "",
            str(r["n_lps"]) if first else "",
            str(r["layer"]),
            str(r["n"]),
            str(r["active"]),
            str(r["inactive"]),
            str(r["unstable"]),
            f"{r['mean_width']:.3f}",
        )
        last = key
    console.print(table)
    console.print(
        f"interval: median of {repeat} runs; LP: one run, HiGHS dual simplex on one thread, LPs only for the "
        "neurons interval bounds leave unstable (min and max; min skipped once a ReLU is inactive). "
        "cpu = CPU time of this process."
    )
    if json_path is not None:
        for r in records:
            r["network_source"] = nets[r["network"]][1]
            r["image"] = image_src if r["domain"].startswith("L1") else None
        json_path.write_text(json.dumps({"fashion": records, "scaling": scaling_rows}, indent=1))
        console.print(f"records written to {json_path}")


if __name__ == "__main__":
    typer.run(main)
