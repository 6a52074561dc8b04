"""Build and solve a Fischetti–Jo model with nnblocks' NetworkBlock and with OMLT's full-space big-M.

On identical ReLU networks and the same input box, for each tool: the time to build the
network's encoding (bounds included), the size of the whole FJ model (free variables, binaries,
constraints) and the time HiGHS takes to solve

    min ||x - x_bar||_1   s.t.  y = f(x),  y_target >= y_j + gamma  (j != target),  0 <= x <= 1

(the L1 distance with one auxiliary per pixel as in the FJ model, a difference margin). Only the
network encoding differs between the two models. Networks: the trained 784-8-8-8-10 Fashion-MNIST
classifier shipped in ``models/`` (if present; otherwise He-initialised), and He-initialised
784-256-256-10 and 784-512x3-10 networks (fixed seed); and two convolutional networks read from ONNX as
graphs: ``cifar_base_kw`` (VNN-COMP oval21, ``--data``/oval21/onnx) and ``cnn`` (the Fashion-MNIST CNN
shipped in ``models/cnn``).

The convolutional rows: ``cifar_base_kw`` around the CIFAR-10 test image of the first oval21 VNN-LIB
property whose radius is at least r (read with ``nnblocks.spec.read_vnnlib``; the image is recovered from
its box, which the property clips to the pixel range; the network's inputs are normalised, so a pixel radius
r is r / std there, std taken from the property's own box), ``cnn`` around the Fashion-MNIST test image the
dense rows use. OMLT gets the ONNX file through its reader ``omlt.io.load_onnx_neural_network``; the table
says what it refuses, and where it reads a network, its sizes and whether its fixed-input solution equals
onnxruntime's output.

Boxes (``--radii``): the whole pixel box [0, 1]^784 ("none") and the boxes [0, 1]^784 ∩ [x_bar - r, x_bar + r]
of verification (both tools get the same box as variable bounds). OMLT creates one binary per ReLU whatever
its bounds; nnblocks none for a neuron its bounds prove stable. Over the whole box no hidden neuron of
these networks is provably stable (interval bounds; LP bounds on the two smaller ones), so the binary
counts agree there; the smaller the box, the more neurons the bounds fix.

    python benchmarks/build.py [--time-limit 60] [--networks small,medium,large,cifar_base_kw,cnn]
                               [--radii none,0.05,2/255] [--bounds interval] [--data DIR] [--json out.json]

The build runs on one thread (OMP/OpenBLAS/MKL threads set to 1 unless set already): the timings are
those of one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy is imported
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from fractions import Fraction  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyomo.environ as pyo  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from nnblocks import Identity, Layer, Network, ReLU  # noqa: E402
from nnblocks.blocks import NetworkBlock  # noqa: E402
from nnblocks.graph import Graph  # noqa: E402
from nnblocks.solve import model_size, solve  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOMINAL = ROOT / "models" / "fashion-mnist" / "nominal.npz"
IMAGES = ROOT / "models" / "fashion-mnist" / "nominal_images.npz"
CNN = ROOT / "models" / "cnn" / "cnn.onnx"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "vnncomp"
ARCHITECTURES = {"small": [784, 8, 8, 8, 10], "medium": [784, 256, 256, 10], "large": [784, 512, 512, 512, 10]}
GRAPHS = ("cifar_base_kw", "cnn")


def he_network(sizes: list[int], seed: int = 0) -> Network:
    """ReLU hidden layers, identity output; W ~ N(0, 2 / n_in), b ~ N(0, 0.01)."""
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(1, len(sizes)):
        W = rng.normal(size=(sizes[k], sizes[k - 1])) * np.sqrt(2.0 / sizes[k - 1])
        b = rng.normal(scale=0.1, size=sizes[k])
        layers.append(Layer(W, b, ReLU() if k < len(sizes) - 1 else Identity()))
    return Network(layers)


@dataclass
class Instance:
    """A network of the benchmark: its label, the network (a Network or a Graph), where its weights come from,
    the ONNX file OMLT's reader gets (convolutional networks) and the test image the boxes are centred on."""

    name: str
    label: str
    net: Network | Graph
    origin: str
    onnx: Path | None = None
    x_bar: np.ndarray | None = None
    properties: list = field(default_factory=list)  # cifar_base_kw: (eps, image, scale, lo, hi, file name)


def fashion_image() -> np.ndarray:
    """A Fashion-MNIST test image (or a fixed random one)."""
    if IMAGES.exists():
        return np.load(IMAGES)["X"][0].astype(float)
    return np.random.default_rng(1).uniform(0, 1, 784)


def oval21_property(path: Path) -> tuple:
    """(eps, image, scale, lo, hi, name) of an oval21 VNN-LIB property of cifar_base_kw.

    The property's box is the pixel ball of radius eps (from the file name) around a CIFAR-10 test image, in
    the network's normalised coordinates ((pixel - mean_c) / std_c) and clipped to the pixel range. The
    largest half-width of channel c is eps / std_c (its ``scale``); a coordinate whose half-width is smaller
    was clipped, at the top when its upper bound is the channel's largest one (image = lower + eps / std_c),
    else at the bottom (image = upper - eps / std_c); the others are the centre of their interval.
    """
    from nnblocks.spec import read_vnnlib

    eps = float(path.stem.split("eps")[-1])
    lo, hi = (np.asarray(v, dtype=float) for v in read_vnnlib(path).bounding_box())
    L, H = lo.reshape(3, -1), hi.reshape(3, -1)
    half = (H - L) / 2
    full = half.max(axis=1, keepdims=True)
    image = (L + H) / 2
    clipped = half < full * (1 - 1e-6)
    top = clipped & np.isclose(H, H.max(axis=1, keepdims=True), rtol=0, atol=1e-6)
    image = np.where(top, L + full, np.where(clipped, H - full, image))
    scale = np.broadcast_to(full / eps, L.shape).ravel()
    return eps, np.clip(image.ravel(), lo, hi), scale, lo, hi, path.name  # clip: the file's float32 rounding


def instances(names: list[str], data: Path, cnn: Path = CNN) -> list[Instance]:
    import nnblocks as nb

    out = []
    for name in names:
        if name in ARCHITECTURES:
            sizes = ARCHITECTURES[name]
            label = "-".join(map(str, sizes))
            if name == "small" and NOMINAL.exists():
                out.append(Instance(name, label, Network.load(NOMINAL), "trained", x_bar=fashion_image()))
            else:
                out.append(Instance(name, label, he_network(sizes), "He init", x_bar=fashion_image()))
        elif name == "cifar_base_kw":
            path = data / "oval21" / "onnx" / "cifar_base_kw.onnx"
            props = sorted((data / "oval21" / "vnnlib").glob("cifar_base_kw-*.vnnlib"))
            if not path.exists() or not props:
                raise SystemExit(f"--data: {path} or its oval21/vnnlib properties are missing")
            out.append(Instance(name, name, nb.from_onnx(path), "oval21", onnx=path,
                                properties=[oval21_property(f) for f in props]))
        elif name == "cnn":
            if not cnn.exists():
                raise SystemExit(f"--cnn: {cnn} is missing (models/cnn/train_cnn.py makes it)")
            out.append(Instance(name, name, nb.from_onnx(cnn), "trained", onnx=cnn, x_bar=fashion_image()))
        else:
            raise SystemExit(f"--networks: unknown network {name!r}; choose from "
                             f"{', '.join([*ARCHITECTURES, *GRAPHS])}")
    return out


def instance_box(inst: Instance, radius: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | str:
    """(x_bar, lower, upper, property) of the input box of ``radius`` (a pixel radius), or why there is none."""
    if not inst.properties:
        x_bar = inst.x_bar
        if radius is None:
            return x_bar, np.zeros(x_bar.size), np.ones(x_bar.size), ""
        return x_bar, np.clip(x_bar - radius, 0, 1), np.clip(x_bar + radius, 0, 1), ""
    if radius is None:
        return "the pixel box of its normalised inputs is not in the data (give a radius)"
    # a property of radius >= r holds every clipping the ball of radius r needs
    fits = [p for p in inst.properties if p[0] >= radius * (1 - 1e-9)]
    if not fits:
        return f"no oval21 property has a radius >= {radius:g}"
    _eps, image, scale, lo, hi, prop = fits[0]
    return image, np.maximum(image - radius * scale, lo), np.minimum(image + radius * scale, hi), prop


def target_class(net, x_bar: np.ndarray) -> int:
    """The class that scores second on x_bar."""
    return int(np.argsort(np.ravel(net.forward(x_bar)))[-2])


def fj_wrapper(m: pyo.ConcreteModel, x: list, y: list, x_bar: np.ndarray, target: int, gamma: float) -> None:
    """The FJ objective and margin on the given input/output variables (identical for both tools)."""
    n = len(x)
    m.d = pyo.Var(range(n), bounds=(0, 1))
    m.dist_pos = pyo.Constraint(range(n), rule=lambda _m, i: x[i] - m.d[i] <= float(x_bar[i]))
    m.dist_neg = pyo.Constraint(range(n), rule=lambda _m, i: -x[i] - m.d[i] <= -float(x_bar[i]))
    others = [j for j in range(len(y)) if j != target]
    m.margin = pyo.Constraint(others, rule=lambda _m, j: y[target] >= y[j] + gamma)
    m.obj = pyo.Objective(expr=sum(m.d.values()), sense=pyo.minimize)


def build_nnblocks(net: Network | Graph, lo: np.ndarray, hi: np.ndarray, bounds: str = "interval"):
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(net.n_inputs), bounds=lambda _m, i: (float(lo[i]), float(hi[i])))
    start = time.perf_counter()
    m.nn = NetworkBlock()
    m.nn.build(net, inputs=m.x, bounds=bounds)
    elapsed = time.perf_counter() - start
    return m, m.nn.inputs, m.nn.outputs, elapsed


def _quiet_build(block, formulation) -> None:
    quiet = logging.getLogger("pyomo.core")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # OMLT initialises its scaled inputs at 0, outside a narrowed box (W1002)
    try:
        block.build_formulation(formulation)
    finally:
        quiet.setLevel(level)


def build_omlt(net: Network, lo: np.ndarray, hi: np.ndarray):
    from omlt import OmltBlock
    from omlt.neuralnet import FullSpaceNNFormulation, NetworkDefinition
    from omlt.neuralnet.layer import DenseLayer, InputLayer

    m = pyo.ConcreteModel()
    start = time.perf_counter()
    definition = NetworkDefinition(scaled_input_bounds={i: (float(lo[i]), float(hi[i])) for i in range(net.n_inputs)})
    prev = InputLayer([net.n_inputs])
    definition.add_layer(prev)
    for layer in net.layers:
        if layer.activation == ReLU():
            act = "relu"
        elif layer.activation == Identity():
            act = "linear"
        else:
            raise ValueError(f"the OMLT comparison covers ReLU/identity layers, got {layer.activation!r}")
        dense = DenseLayer(prev.output_size, [layer.n_out], activation=act, weights=layer.W.T, biases=layer.b)
        definition.add_layer(dense)
        definition.add_edge(prev, dense)
        prev = dense
    m.nn = OmltBlock()
    _quiet_build(m.nn, FullSpaceNNFormulation(definition))
    elapsed = time.perf_counter() - start
    x = [m.nn.inputs[i] for i in range(net.n_inputs)]
    y = [m.nn.outputs[j] for j in range(net.n_outputs)]
    return m, x, y, elapsed


# --- OMLT on an ONNX file (the convolutional rows) ---------------------------------------------------------


def _error_line(exc: Exception) -> str:
    """An OMLT error on one line (its messages print whole NodeProtos: shown by their name)."""
    import re

    text = re.sub(r'input: "[^"]*"\s*(?:input: "[^"]*"\s*)*output: "[^"]*"\s*name: "([^"]*)".*?(?=\shas\s)',
                  r"node \1", str(exc), flags=re.S)
    return f"{type(exc).__name__}: {' '.join(text.split())}"


def _omlt_convention(model):
    """The model with the edits OMLT's reader needs to read a torch export at all, in its per-sample convention:
    a symbolic batch axis (OMLT reads a fixed batch axis of size 1 as a dimension of the sample) and Flatten
    as a Reshape to a vector (OMLT has no Flatten; its Reshape reads a Constant shape of the sample)."""
    import onnx
    from onnx import helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_value == 1:
            dims[0].dim_param = "N"
    nodes = []
    for node in model.graph.node:
        if node.op_type == "Flatten":
            shape = f"{node.name or 'flatten'}_shape"
            nodes.append(helper.make_node("Constant", [], [shape],
                                          value=helper.make_tensor(shape, onnx.TensorProto.INT64, [1], [-1])))
            nodes.append(helper.make_node("Reshape", [node.input[0], shape], list(node.output), name=node.name))
        else:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def _omlt_input_size(model) -> list[int]:
    return [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim if d.dim_value > 0]


def omlt_read(path: Path, lo: np.ndarray, hi: np.ndarray):
    """(NetworkDefinition or None, what happened): OMLT's reader on the file as shipped, then with the edits of
    :func:`_omlt_convention`."""
    import onnx
    from omlt.io import load_onnx_neural_network

    model = onnx.load(path)
    notes = []
    for what, candidate in (("as shipped", model), ("with a symbolic batch axis and Flatten as Reshape",
                                                     _omlt_convention(model))):
        size = _omlt_input_size(candidate)
        bounds = {idx: (float(a), float(b)) for idx, a, b in zip(np.ndindex(*size), lo, hi, strict=True)}
        try:
            definition = load_onnx_neural_network(candidate, input_bounds=bounds)
        except Exception as exc:  # noqa: BLE001 - every refusal of the reader is a result here
            notes.append(f"{what}: {_error_line(exc)}")
            continue
        notes.append(f"{what}: read")
        return definition, "; ".join(notes)
    return None, "; ".join(notes)


def _onnxruntime(model, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    return np.ravel(session.run(None, {inp.name: x.reshape(shape).astype(np.float32)})[0]).astype(float)


def omlt_prefix_check(path: Path, x: np.ndarray) -> str:
    """OMLT's layer-by-layer evaluation against onnxruntime on the longest prefix of the network OMLT reads
    (the network up to the output of node k, in OMLT's convention), at the image x."""
    import onnx
    import onnx.numpy_helper
    from omlt.io import load_onnx_neural_network
    from onnx.utils import Extractor

    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    best = None
    for k, node in enumerate(model.graph.node):
        sub = Extractor(model).extract_model([model.graph.input[0].name], [node.output[0]])
        try:
            definition = load_onnx_neural_network(_omlt_convention(sub))
        except Exception:  # noqa: BLE001, S112 - the longest prefix that reads is wanted
            continue
        best = (k, sub, definition)
    if best is None:
        return "no prefix of the network reads"
    k, sub, definition = best
    y = x.reshape(_omlt_input_size(_omlt_convention(sub)))
    for layer in list(definition.layers)[1:]:
        y = layer.eval_single_layer(y)
    ref = _onnxruntime(sub, x)
    ops = "-".join(n.op_type for n in model.graph.node[: k + 1])
    if np.size(y) != ref.size:
        return f"prefix {ops}: OMLT gives {np.size(y)} values, onnxruntime {ref.size}"
    diff = np.abs(np.ravel(y) - ref).max()
    text = f"prefix {ops}: max |OMLT - onnxruntime| = {diff:.3g} (largest output {np.abs(ref).max():.3g})"
    # the same prefix with its Conv biases set to 0 (OMLT's Conv reader checks the bias and does not use it)
    biases = {n.input[2] for n in sub.graph.node if n.op_type == "Conv" and len(n.input) > 2}
    if biases:
        for init in sub.graph.initializer:
            if init.name in biases:
                init.CopyFrom(onnx.numpy_helper.from_array(np.zeros_like(onnx.numpy_helper.to_array(init)), init.name))
        text += f", {np.abs(np.ravel(y) - _onnxruntime(sub, x)).max():.3g} with its Conv biases set to 0"
    return text


def build_omlt_onnx(definition):
    from omlt import OmltBlock
    from omlt.neuralnet import FullSpaceNNFormulation

    m = pyo.ConcreteModel()
    start = time.perf_counter()
    m.nn = OmltBlock()
    _quiet_build(m.nn, FullSpaceNNFormulation(definition))
    elapsed = time.perf_counter() - start
    x = [m.nn.inputs[idx] for idx in definition.input_indexes]
    y = [m.nn.outputs[idx] for idx in definition.output_indexes]
    return m, x, y, elapsed


def omlt_fixed_input_gap(definition, path: Path, x_bar: np.ndarray, solver: str) -> float | None:
    """max |OMLT's outputs with the input fixed at x_bar - onnxruntime's| (None: no solution)."""
    import onnx

    m, x, y, _ = build_omlt_onnx(definition)
    for v, val in zip(x, x_bar, strict=True):
        v.fix(float(val))
    m.obj = pyo.Objective(expr=0.0)
    res = solve(m, solver=solver, time_limit=60)
    if not res.has_solution:
        return None
    return float(np.abs(np.array([pyo.value(v) for v in y]) - _onnxruntime(onnx.load(path), x_bar)).max())


# --- one row -------------------------------------------------------------------------------------------------


def run(inst: Instance, tool: str, time_limit, gamma, solver, bounds="interval", radius=None) -> dict | None:
    box = instance_box(inst, radius)
    if isinstance(box, str):
        return None
    x_bar, lo, hi, prop = box
    target = target_class(inst.net, x_bar)
    graph = isinstance(inst.net, Graph)
    rec = {
        "network": inst.label,
        "weights": inst.origin,
        "tool": tool,
        "bounds": (bounds if not graph else "interval") if tool == "nnblocks" else "omlt interval",
        "radius": radius,
        "property": prop,
        "solver": solver,
        "time_limit": time_limit,
        "target": target,
    }
    cpu = time.process_time()
    if tool == "nnblocks":
        m, x, y, build_s = build_nnblocks(inst.net, lo, hi, "interval" if graph else bounds)
    elif not graph:
        m, x, y, build_s = build_omlt(inst.net, lo, hi)
    else:
        definition, read = omlt_read(inst.onnx, lo, hi)
        rec["omlt_read"] = read
        if definition is None:
            rec["omlt_prefix"] = omlt_prefix_check(inst.onnx, x_bar)
            rec.update(status="refused", build_s=None, n_vars=None, n_binaries=None, n_constraints=None,
                       solve_s=None, objective=None, bound=None)
            return rec
        rec["omlt_fixed_input_gap"] = omlt_fixed_input_gap(definition, inst.onnx, x_bar, solver)
        cpu = time.process_time()
        m, x, y, build_s = build_omlt_onnx(definition)
    cpu = time.process_time() - cpu  # the build's CPU time (the model's variables included: a shared machine
    # stretches wall time)
    fj_wrapper(m, x, y, x_bar, target, gamma)
    size = model_size(m)
    rec.update(build_s=build_s, build_cpu_s=cpu, n_vars=size.n_vars, n_binaries=size.n_binaries,
               n_constraints=size.n_constraints)
    if time_limit > 0:
        res = solve(m, solver=solver, time_limit=time_limit)
        rec.update(status=str(res.status.value), solve_s=res.time, objective=res.objective, bound=res.bound)
        if res.has_solution:
            out = np.ravel(inst.net.forward(np.array([pyo.value(v) for v in x])))
            rec["verified_margin"] = float(out[target] - np.delete(out, target).max())
    else:
        rec.update(status="not solved", solve_s=None, objective=None, bound=None)
    return rec


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _box_text(radius: float | None) -> str:
    if radius is None:
        return "the pixel box [0,1]^n"
    return f"the pixel box ∩ ||x - x_bar||_inf <= {Fraction(radius).limit_denominator(1000)} (pixel scale)"


def _print_table(console: Console, box_records: list[dict], radius: float | None, args) -> None:
    table = Table(title=f"FJ model, input box {_box_text(radius)}, nnblocks bounds {args.bounds} (graphs: "
                  f"interval), {args.solver}, time limit {args.time_limit:g} s")
    for col in ["network", "weights", "tool", "build s", "speed-up", "vars", "binaries", "constraints", "status",
                "solve s", "objective", "bound"]:
        table.add_column(col, justify="left" if col in ("network", "weights", "tool", "status") else "right")
    by_net: dict[str, dict[str, dict]] = {}
    for rec in box_records:
        by_net.setdefault(rec["network"], {})[rec["tool"]] = rec
    notes = []
    for rec in box_records:
        other = by_net[rec["network"]].get("omlt")
        speed = (other["build_s"] / rec["build_s"]
                 if (other and other["build_s"] is not None and rec["tool"] == "nnblocks") else None)
        rec["build_speedup_vs_omlt"] = speed
        table.add_row(
            rec["network"], rec["weights"], rec["tool"], _fmt(rec["build_s"], ".2f"), _fmt(speed, ".1f"),
            _fmt(rec["n_vars"], "d"), _fmt(rec["n_binaries"], "d"), _fmt(rec["n_constraints"], "d"), rec["status"],
            _fmt(rec["solve_s"], ".1f"), _fmt(rec["objective"], ".4f"), _fmt(rec["bound"], ".4f"),
        )
        if rec.get("property") and rec["tool"] == "nnblocks":
            notes.append(f"{rec['network']}: the test image of {rec['property']}")
        if "omlt_read" in rec:
            notes.append(f"{rec['network']}, OMLT's ONNX reader {rec['omlt_read']}")
        if "omlt_prefix" in rec:
            notes.append(f"{rec['network']}, OMLT on the longest prefix it reads: {rec['omlt_prefix']}")
        if "omlt_fixed_input_gap" in rec:
            notes.append(f"{rec['network']}, OMLT's outputs with the input fixed at x_bar vs onnxruntime: max |diff| = "
                         f"{_fmt(rec['omlt_fixed_input_gap'], '.3g')}")
    console.print(table)
    for note in notes:
        console.print(f"  {note}")


def _radius(text: str) -> float | None:
    text = text.strip()
    if text.lower() == "none":
        return None
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise SystemExit(f"--radii: {text!r} is neither 'none', a number nor a fraction such as 2/255") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", default="small,medium,large",
                    help="comma list of small, medium, large, cifar_base_kw, cnn")
    ap.add_argument("--tools", default="nnblocks,omlt")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per FJ solve (0: build only)")
    ap.add_argument("--gamma", type=float, default=0.1, help="margin y_target - y_j")
    ap.add_argument("--solver", default="highs")
    ap.add_argument("--bounds", default="interval", choices=["interval", "crown", "lp", "pipeline"],
                    help="nnblocks' bounds of the dense networks (graphs: interval)")
    ap.add_argument("--radii", default="none,0.05",
                    help="comma list of pixel radii r (numbers or fractions such as 2/255): the pixel box ∩ "
                         "||x - x_bar||_inf <= r per table; 'none': the pixel box")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="the VNN-COMP folder (oval21/onnx/cifar_base_kw.onnx, oval21/vnnlib)")
    ap.add_argument("--cnn", type=Path, default=CNN, help="the ONNX file of the cnn rows (default: the shipped one)")
    ap.add_argument("--json", type=Path, default=None, help="write one record per network and tool")
    args = ap.parse_args()
    tools = args.tools.split(",")
    console = Console(width=160)
    radii = [_radius(r) for r in args.radii.split(",") if r.strip()]
    insts = instances([n.strip() for n in args.networks.split(",") if n.strip()], args.data, args.cnn)
    # warm-up: imports and first-use costs are not part of a build
    warm = he_network([4, 3, 2])
    for tool in tools:
        (build_nnblocks if tool == "nnblocks" else build_omlt)(warm, np.zeros(4), np.ones(4))
    for inst in insts:
        if isinstance(inst.net, Graph) and "nnblocks" in tools:
            box = next((b for b in (instance_box(inst, r) for r in radii) if not isinstance(b, str)), None)
            if box is not None:
                build_nnblocks(inst.net, box[1], box[2])
    records = []
    for radius in radii:
        box_records = []
        for inst in insts:
            why = instance_box(inst, radius)
            if isinstance(why, str):
                console.log(f"{inst.label} (radius {radius}): skipped, {why}")
                continue
            for tool in tools:
                rec = run(inst, tool, args.time_limit, args.gamma, args.solver, args.bounds, radius)
                box_records.append(rec)
                console.log(f"{inst.label} {tool} (radius {radius}): build {_fmt(rec['build_s'], '.2f')} s "
                            f"(CPU {_fmt(rec.get('build_cpu_s'), '.2f')} s), status {rec['status']}")
        if box_records:
            _print_table(console, box_records, radius, args)
        records += box_records
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
