"""Verification of specifications: is there an input of a spec's input set whose output is unsafe?
Stages, cheapest first: falsification, bounds, branch and bound, MILP; a result only from a proof or a checked point.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnblocks import _validate
from nnblocks.graph import Graph
from nnblocks.network import Network
from nnblocks.verify.result import STAGES, StageStats, VerifyResult, VerifyStatus

__all__ = ["STAGES", "StageStats", "VerifyResult", "VerifyStatus", "verify"]

INPUT_SPLIT_MAX_DIM = 16
"""Inputs of at most this many dimensions are split by the branch stage; larger ones get ReLU splitting."""


def _network(network: Any) -> Network | Graph:
    """A Network, or a Graph that is not a dense chain (a chain Graph is verified as its Network)."""
    if isinstance(network, str | os.PathLike):
        from nnblocks.io import from_onnx

        network = from_onnx(network)
    if isinstance(network, Graph):
        chain = network.to_network()
        return network if chain is None else chain
    if isinstance(network, Network):
        return network
    raise TypeError("network must be an nnblocks.Network, an nnblocks.graph.Graph or a path to an .onnx file, got "
                    f"{type(network).__name__}")


def _spec(spec: Any, network: Network | Graph) -> Any:
    if isinstance(spec, str | os.PathLike):
        from nnblocks.spec import read_vnnlib

        spec = read_vnnlib(spec, n_inputs=network.n_inputs, n_outputs=network.n_outputs)
    elif not (hasattr(spec, "disjuncts") and callable(getattr(spec, "counterexample_check", None))):
        raise TypeError(f"spec must be an nnblocks.spec.Spec, a VNN-LIB path or text, got {type(spec).__name__}")
    if spec.n_inputs != network.n_inputs or spec.n_outputs != network.n_outputs:
        raise ValueError(
            f"spec has {spec.n_inputs} inputs and {spec.n_outputs} outputs, the network "
            f"{network.n_inputs} and {network.n_outputs}"
        )
    return spec


def _stages(stages: Any) -> tuple[str, ...]:
    if isinstance(stages, str):
        stages = [s.strip() for s in stages.split(",") if s.strip()]
    chosen = tuple(stages)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown or not chosen:
        raise ValueError(f"stages must be a non-empty selection of {', '.join(STAGES)}; got {list(chosen)}")
    return tuple(s for s in STAGES if s in chosen)


class _Run:
    """The state of one verification: open disjuncts, deadline, statistics."""

    def __init__(self, network: Network | Graph, spec: Any, time_limit: float, seed: int) -> None:
        self.network, self.spec = network, spec
        self.start = time.perf_counter()
        self.deadline = self.start + time_limit
        self.rng = np.random.default_rng(seed)
        self.open = list(range(len(spec.disjuncts)))
        self.refuted: list[int] = []
        self.stats: list[StageStats] = []
        self.errors: list[str] = []

    def stage_stats(self, stage: str) -> StageStats | None:
        return next((s for s in self.stats if s.stage == stage), None)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def close(self, disjuncts: set[int] | list[int]) -> None:
        done = set(disjuncts)
        self.refuted += sorted(done & set(self.open))
        self.open = [k for k in self.open if k not in done]

    def sat(self, cx: Any, stage: str, message: str = "") -> VerifyResult:
        return VerifyResult(VerifyStatus.SAT, cx.x, cx.y, cx.disjunct, stage, time.perf_counter() - self.start,
                            self.stats, sorted(self.refuted), message)

    def unsat(self, stage: str | None) -> VerifyResult:
        return VerifyResult(VerifyStatus.UNSAT, stage=stage, time=time.perf_counter() - self.start,
                            stages=self.stats, refuted=sorted(self.refuted))

    def undecided(self) -> VerifyResult:
        status = VerifyStatus.ERROR if self.errors else VerifyStatus.TIMEOUT
        message = "; ".join(self.errors) or f"{len(self.open)} of {len(self.spec.disjuncts)} disjuncts open"
        return VerifyResult(status, time=time.perf_counter() - self.start, stages=self.stats,
                            refuted=sorted(self.refuted), message=message)


def verify(
    network: Network | Graph | str | os.PathLike,
    spec: Any,
    time_limit: float = 60.0,
    solver: str | None = None,
    stages: Sequence[str] | str = STAGES,
    seed: int = 0,
    bounds: str = "crown",
    milp_mode: str = "each",
) -> VerifyResult:
    """Decide whether some input of ``spec``'s input set gives an output in its unsafe set.

    Parameters
    ----------
    network:
        An nnblocks :class:`~nnblocks.network.Network`, a :class:`~nnblocks.graph.Graph` (convolutions, pooling,
        residual sums, ...; a Graph that is a dense chain is verified as its Network), or the path of an
        ``.onnx`` file (read by :func:`nnblocks.from_onnx`).
    spec:
        An :class:`nnblocks.spec.Spec`, or a VNN-LIB file's path or text (read by :func:`nnblocks.spec.read_vnnlib`).
        Its disjuncts are the unsafe cases: the answer is ``sat`` when one of them has a point.
    time_limit:
        Wall-clock seconds for all stages together.
    solver:
        The MILP stage's solver, any name :func:`nnblocks.solve` takes (default: its choice for a MILP).
    stages:
        The stages to run, a selection of ``("falsify", "bounds", "branch", "milp")`` (always run in that order).
    seed:
        Seed of the random sampling (the result is reproducible for a seed, up to time limits).
    bounds:
        The ``output_bounds`` method of the bounds and branch stages (``"interval"``, ``"crown"``, ...).
    milp_mode:
        ``"each"`` (one MILP per disjunct) or ``"one"`` (one MILP per input set with a binary per disjunct).

    Returns
    -------
    VerifyResult
        ``sat`` with a counterexample (x, its float64 forward pass y, the disjunct), confirmed by
        ``Spec.counterexample_check``; ``unsat`` only from sound bounds (bounds, branch) or a solver's infeasibility
        proof (milp); ``timeout`` or ``error`` otherwise, with what each stage did.
    """
    start = time.perf_counter()
    limit = _validate.time_limit(time_limit)
    if limit is None:
        raise ValueError("time_limit must be a finite number of seconds")
    chosen = _stages(stages)
    if milp_mode not in ("each", "one"):
        raise ValueError(f"milp_mode must be 'each' or 'one', got {milp_mode!r}")
    from nnblocks.bounds import OUTPUT_METHODS

    if bounds not in OUTPUT_METHODS:
        raise ValueError(f"bounds must be an output_bounds method, one of {', '.join(OUTPUT_METHODS)}; got {bounds!r}")
    net = _network(network)
    sp = _spec(spec, net)
    run = _Run(net, sp, limit - (time.perf_counter() - start), int(seed))
    run.start = start
    low_dim = net.n_inputs <= INPUT_SPLIT_MAX_DIM
    for stage in chosen:
        if not run.open:
            break
        if run.left() <= 0:
            run.stats.append(StageStats(stage, outcome="timeout", note="no time left"))
            continue
        st = StageStats(stage)
        run.stats.append(st)
        t0 = time.perf_counter()
        try:
            answer = _STAGE_FUNCTIONS[stage](run, st, chosen, low_dim, solver, bounds, milp_mode)
        except Exception as exc:  # noqa: BLE001 - a failing stage decides nothing; the next stages still run
            st.outcome = "error"
            st.note = f"{type(exc).__name__}: {exc}"
            run.errors.append(f"{stage}: {st.note}")
            answer = None
        st.time = time.perf_counter() - t0
        if answer is not None:
            return answer
    if not run.open:  # also a spec without disjuncts: nothing can violate it
        return run.unsat(next((s.stage for s in reversed(run.stats) if s.outcome == "unsat"), None))
    return run.undecided()


def _falsify_budget(run: _Run, chosen: tuple[str, ...], low_dim: bool) -> float:
    """Seconds for the falsification stage: short when branch and bound follows on low-dimensional inputs (it
    evaluates box centres as it goes), longer otherwise."""
    left = run.left()
    if len(chosen) == 1:
        return left
    if low_dim and "branch" in chosen:
        return max(0.05, min(0.02 * left, 0.3))
    return max(0.05, min(0.03 * left, 1.5))


def _run_falsify(run: _Run, st: StageStats, chosen, low_dim, solver, bounds, milp_mode) -> VerifyResult | None:
    from nnblocks.verify.falsify import falsify

    cx, counts = falsify(run.network, run.spec, run.open, _falsify_budget(run, chosen, low_dim), run.rng)
    st.counts.update(counts)
    if cx is not None:
        st.outcome = "sat"
        return run.sat(cx, "falsify")
    return None


def _run_bounds(run: _Run, st: StageStats, chosen, low_dim, solver, bounds, milp_mode) -> VerifyResult | None:
    from nnblocks.verify.bounds import lp_refute, refute

    refuted, counts = refute(run.network, run.spec, run.open, bounds)
    st.counts.update(counts)
    run.close(refuted)
    # LP tightening with the output rows as constraints, for conjunctions that no single row refutes, where no
    # input splitting follows (it is the costlier proof, worth it on high-dimensional inputs)
    multi = [k for k in run.open if np.asarray(run.spec.disjuncts[k].output_A).shape[0] > 1]
    if multi and isinstance(run.network, Network) and not (low_dim and "branch" in chosen):
        lp_refuted, lp_counts = lp_refute(run.network, run.spec, multi, 0.2 * run.left())
        st.counts.update(lp_counts)
        run.close(lp_refuted)
    st.outcome = "unsat" if not run.open else "open"
    return run.unsat("bounds") if not run.open else None


def _run_branch(run: _Run, st: StageStats, chosen, low_dim, solver, bounds, milp_mode) -> VerifyResult | None:
    from nnblocks.verify.bounds import affordable, input_groups
    from nnblocks.verify.branch import split_inputs, split_relus

    groups = input_groups(run.spec, run.open)
    if not low_dim and affordable(run.network, bounds) != bounds:
        # ReLU splitting needs linear bounds (interval bounds ignore fixed phases): too large a graph for them
        st.outcome, st.note = "skipped", "CROWN on this graph exceeds the memory budget"
        return None
    # measured: input splitting beats the MILP on low-dimensional inputs (ACAS Xu), the MILP beats ReLU splitting on
    # wide ones (mnistfc 256x2: disjuncts' MILPs proved infeasible in seconds, ReLU splitting decided none in 20 s)
    share = 1.0 if "milp" not in chosen else 0.7 if low_dim else 0.1
    stop = time.perf_counter() + share * run.left()
    st.counts["mode"] = "inputs" if low_dim else "relus"
    timed_out = False
    for g, group in enumerate(groups):
        # each group gets an equal part of what is left of the stage's time
        deadline = time.perf_counter() + (stop - time.perf_counter()) / (len(groups) - g)
        search = split_inputs if low_dim else split_relus
        extra = {"rng": run.rng} if low_dim else {}
        outcome, cx, counts = search(run.network, run.spec, group, deadline, method=bounds, **extra)
        for key, value in counts.items():
            st.counts[key] = st.counts.get(key, 0) + value if not isinstance(value, str) else value
        if outcome == "sat":
            st.outcome = "sat"
            return run.sat(cx, "branch")
        if outcome == "unsat":
            run.close(group.members)
        else:
            timed_out = True
    if timed_out and run.open and "falsify" in chosen and run.left() > 0:
        # a long search failed: falsify again, longer than the first (short) round, before the MILP
        from nnblocks.verify.falsify import falsify

        cx, counts = falsify(run.network, run.spec, run.open, min(0.25 * run.left(), 5.0), run.rng,
                             samples=400_000)
        fst = run.stage_stats("falsify")
        if fst is not None:
            for key, value in counts.items():
                fst.counts[key] = fst.counts.get(key, 0) + value
            fst.counts["rounds"] = 2
        if cx is not None:
            if fst is not None:
                fst.outcome = "sat"
            st.outcome = "timeout"
            return run.sat(cx, "falsify", "found by the second falsification round, after the branch stage")
    st.outcome = "unsat" if not run.open else ("timeout" if timed_out else "open")
    return run.unsat("branch") if not run.open else None


def _run_milp(run: _Run, st: StageStats, chosen, low_dim, solver, bounds, milp_mode) -> VerifyResult | None:
    from nnblocks.verify.falsify import Counterexample
    from nnblocks.verify.milp import milp_stage

    outcome, cx, counts = milp_stage(run.network, run.spec, list(run.open), run.deadline, solver, milp_mode)
    st.counts.update(counts)
    run.close(counts.pop("infeasible_disjuncts", []))
    if outcome == "sat":
        assert isinstance(cx, Counterexample)
        st.outcome = "sat"
        return run.sat(cx, "milp")
    if counts.get("errors"):
        run.errors.append(f"milp: {counts['errors'][0]}")
    st.outcome = "unsat" if not run.open else "timeout"
    return run.unsat("milp") if not run.open else None


_STAGE_FUNCTIONS = {"falsify": _run_falsify, "bounds": _run_bounds, "branch": _run_branch, "milp": _run_milp}
