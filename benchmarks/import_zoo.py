"""Import every ONNX file under the given folders and compare the imports with onnxruntime.

    python benchmarks/import_zoo.py DIR... [--json PATH] [--samples 100]

Per file: imported exactly (the largest error over random inputs relative to the largest output, against
onnxruntime on the float32 model as stored and, where onnxruntime runs it, on a float64 copy that separates
the importer's error from float32 rounding; the node count and the kinds of operations of the imported
graph) or refused (the op and the node named by the error). Inputs are drawn inside the input boxes of the
folder's VNN-LIB properties when there are any, uniformly in [0, 1] otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, numpy_helper

from nnblocks.graph import Graph
from nnblocks.io import UnsupportedOperationError, from_onnx
from nnblocks.spec import read_vnnlib


def as_double(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float64 copy: float32 initializers, constants, casts, inputs and outputs made float64."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for i, init in enumerate(g.initializer):
        if init.data_type == TensorProto.FLOAT:
            value = numpy_helper.to_array(init).astype(np.float64)
            g.initializer[i].CopyFrom(numpy_helper.from_array(value, init.name))
    for node in g.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float64), a.t.name))
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.DOUBLE
    for vi in list(g.input) + list(g.output):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.DOUBLE
    del g.value_info[:]
    return m


def run_ort(model: onnx.ModelProto, X: np.ndarray, dtype: type) -> np.ndarray:
    """onnxruntime's output for every sample of X (N, *input shape) or one rank-1 sample, flat per sample."""
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    if len(inp.shape) == 1:
        return np.stack([sess.run(None, {inp.name: x.astype(dtype)})[0].ravel() for x in X])
    if isinstance(inp.shape[0], int):  # a static batch: one sample at a time
        return np.concatenate([sess.run(None, {inp.name: X[i:i + 1].astype(dtype)})[0].reshape(1, -1)
                               for i in range(len(X))])
    return sess.run(None, {inp.name: X.astype(dtype)})[0].reshape(len(X), -1)


def sample_inputs(model: onnx.ModelProto, folder: Path, n: int, rng: np.random.Generator) -> np.ndarray:
    """n inputs (N, *per-sample shape): inside the boxes of the VNN-LIB files next to the model, else U[0, 1]."""
    inits = {i.name for i in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    dims = [d.dim_value if d.HasField("dim_value") else 1 for d in inp.type.tensor_type.shape.dim]
    ps = dims if len(dims) == 1 else dims[1:]
    size = int(np.prod(ps))
    boxes = []
    for root in (folder, folder.parent):
        for f in sorted((root / "vnnlib").glob("*.vnnlib")) if (root / "vnnlib").is_dir() else []:
            try:
                lo, hi = read_vnnlib(f).bounding_box()
            except Exception:  # a property of another network of the folder (other input size)
                continue
            if np.size(lo) == size and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
                boxes.append((np.ravel(lo), np.ravel(hi)))
        if boxes:
            break
    if boxes:
        k = rng.integers(len(boxes), size=n)
        lo = np.stack([boxes[i][0] for i in k])
        hi = np.stack([boxes[i][1] for i in k])
        X = lo + (hi - lo) * rng.uniform(size=(n, size))
    else:
        X = rng.uniform(size=(n, size))
    return X.reshape(n, *ps)


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), np.finfo(np.float64).tiny))


def check_file(path: Path, n: int = 100, seed: int = 0) -> dict:
    """Import one file and compare it with onnxruntime; a row of the table as a dict."""
    model = onnx.load(str(path))
    row: dict = {"file": str(path)}
    t0 = time.perf_counter()
    try:
        net = from_onnx(model)
    except UnsupportedOperationError as exc:
        row.update(status="refused", op=exc.op_type, node=exc.node, message=str(exc).split(";")[0])
        return row
    except ValueError as exc:
        row.update(status="refused", op=None, node=None, message=str(exc))
        return row
    row["import_s"] = time.perf_counter() - t0
    X = sample_inputs(model, path.parent.parent if path.parent.name == "onnx" else path.parent, n,
                      np.random.default_rng(seed))
    ours = net.forward(X.reshape(n, -1)).reshape(n, -1)
    row["error_f32"] = relative_error(ours, run_ort(model, X, np.float32))
    try:
        row["error_f64"] = relative_error(ours, run_ort(as_double(model), X, np.float64))
    except Exception as exc:  # an operator onnxruntime has no float64 kernel for
        row["error_f64"] = None
        row["f64_note"] = str(exc).splitlines()[0][:120]
    if isinstance(net, Graph):
        kinds = collections.Counter(node.op.kind for node in net.nodes)
        row.update(kind="Graph", nodes=len(net.nodes), ops=dict(kinds))
    else:
        row.update(kind="Network", nodes=len(net.layers), ops={"layers": len(net.layers)})
    row["status"] = "imported"
    row["onnx_ops"] = dict(collections.Counter(nd.op_type for nd in model.graph.node))
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--samples", type=int, default=100)
    args = ap.parse_args(argv)
    files = sorted({f for d in args.dirs for f in d.rglob("*.onnx")})
    rows = [check_file(f, args.samples) for f in files]
    common = Path(*Path(files[0]).parts[:-1]) if len(files) == 1 else Path(*[
        p for p, *rest in zip(*[f.parts for f in files]) if all(r == p for r in rest)])
    print("| file | result | max rel. error vs ORT f32 | vs ORT f64 | import s | nodes | node kinds | ONNX ops |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        name = str(Path(r["file"]).relative_to(common))
        if r["status"] == "imported":
            f64 = "n/a" if r["error_f64"] is None else f"{r['error_f64']:.1e}"
            kinds = ", ".join(f"{k} {v}" for k, v in r["ops"].items())
            onnx_ops = ", ".join(f"{k} {v}" for k, v in r["onnx_ops"].items())
            print(f"| {name} | {r['kind']} | {r['error_f32']:.1e} | {f64} | {r['import_s']:.2f} | {r['nodes']} | "
                  f"{kinds} | {onnx_ops} |")
        else:
            print(f"| {name} | refused: {r['op']} (node {r['node']!r}) | | | | | | {r['message']} |")
    n_ok = sum(r["status"] == "imported" for r in rows)
    print(f"\n{n_ok} of {len(rows)} imported, {len(rows) - n_ok} refused")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
