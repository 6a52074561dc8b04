"""Shared parts of the Goerigk & Kurtz benchmarks (gk_obj.py, gk_feas.py, gk_path.py)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

try:
    import nnblocks  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing the package
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnblocks.robust import DiscreteUncertaintySet, KernelUncertaintySet, NetworkUncertaintySet

DEFAULT_ROOT = Path(os.environ.get("NNBLOCKS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
                    ) / "ro-dnn"
METHODS = ("nn", "kernel", "discrete")


def parser(description: str, default_instances: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", type=Path, default=DEFAULT_ROOT, help="the ro-dnn folder (default: %(default)s)")
    p.add_argument("--instances", default=default_instances,
                   help="comma-separated, e.g. '20d:1:1,2d:2:21' or 'path:34-28' (default: %(default)s)")
    p.add_argument("--methods", default="nn,kernel,discrete", help="subset of nn,kernel,discrete")
    p.add_argument("--exact-time-limit", type=float, default=30.0,
                   help="seconds for the exact worst case over U at each NN solution (0 skips it)")
    p.add_argument("--tol", type=float, default=1e-3, help="relative tolerance of scenario generation")
    p.add_argument("--json", type=Path, default=None, help="write one record per solve to this file")
    return p


def methods(spec: str) -> list[str]:
    ms = [m.strip() for m in spec.split(",") if m.strip()]
    bad = [m for m in ms if m not in METHODS]
    if bad:
        raise SystemExit(f"unknown method(s) {bad}; use {','.join(METHODS)}")
    return ms


def synthetic_instances(spec: str) -> list[tuple[int, int, int]]:
    """'20d:1:1,2d:2:21' -> [(20, 1, 1), (2, 2, 21)]; '20d:all' -> every staged 20-D instance."""
    out: list[tuple[int, int, int]] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        parts = item.split(":")
        dim = {"2d": 2, "20d": 20}.get(parts[0])
        if dim is None:
            raise SystemExit(f"bad instance {item!r}: expected 2d:T:I or 20d:T:I")
        if parts[1:] == ["all"]:
            out += ([(2, 1, 26), (2, 2, 21), (2, 3, 21)] if dim == 2
                    else [(20, t, i) for t in (1, 2, 3) for i in range(1, 11)])
        elif len(parts) == 3:
            out.append((dim, int(parts[1]), int(parts[2])))
        else:
            raise SystemExit(f"bad instance {item!r}: expected 2d:T:I or 20d:T:I")
    return out


def uncertainty_set(method: str, data: Any, q: float | None, kernel: Any = None, lower: Any = None) -> Any:
    """The authors' set of ``method`` from an instance's ``network``, ``center`` and ``train`` fields.

    nn: R = q-quantile of the training radii, c bounded by the box of the data inside U; kernel: from the
    authors' files ``kernel`` (alphas, support vectors, Q, theta); discrete: the training data.
    """
    if method == "nn":
        return NetworkUncertaintySet.from_quantile(data.network, data.center, data.train, q)
    if method == "kernel":
        return KernelUncertaintySet.from_files(kernel.alphas, kernel.sv, kernel.Q, kernel.theta, data.train,
                                               lower=lower)
    return DiscreteUncertaintySet(data.train)


def exact_check(U: Any, x: np.ndarray, time_limit: float) -> dict:
    """The exact worst case over U at x (Theorem 3), or nothing when time_limit is 0."""
    if not time_limit or not isinstance(U, NetworkUncertaintySet):
        return {"exact_worst_case": None, "exact_bound": None, "exact_status": None, "exact_time_s": None}
    t0 = time.perf_counter()
    try:
        wc = U.worst_case(x, method="exact", time_limit=time_limit)
    except Exception as exc:  # reported in the record, the benchmark goes on
        return {"exact_worst_case": None, "exact_bound": None, "exact_status": f"error: {exc}",
                "exact_time_s": time.perf_counter() - t0}
    return {"exact_worst_case": wc.value if np.isfinite(wc.value) else None, "exact_bound": wc.bound,
            "exact_status": wc.status, "exact_time_s": time.perf_counter() - t0}


def fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if not np.isfinite(v):
            return str(v)
        return f"{v:.{digits}f}"
    return str(v)


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(h) for h in header]] + [[c if isinstance(c, str) else fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for k, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def print_mean_times(records: list[dict], method_names: list[str], published: dict, label: str, unit: str,
                     digits: int = 2) -> None:
    """One line per method: how many ``records`` (``unit``), their mean ``time_s`` and the published mean."""
    for method in method_names:
        ts = [r["time_s"] for r in records if r["method"] == method]
        if ts:
            print(f"{label}{method}: {len(ts)} {unit}, mean time {sum(ts) / len(ts):.{digits}f} s "
                  f"(published: {published.get(method, '-')} s)")


def write_json(path: Path | None, records: list[dict]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1, default=_jsonable))
    print(f"\nwrote {len(records)} records to {path}")


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.floating | np.integer):
        return o.item()
    return str(o)
