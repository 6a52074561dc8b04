"""Adversarial-example commands: ``demo``, ``fj``, ``arfj``, ``sample inner|outer``, ``evaluate``.

Networks are .onnx or .npz files or the names of shipped networks (``nnblocks models``; default: the shipped
Fashion-MNIST networks); an image is an index into the shipped nominal images (one per class, index = class) or
a .npy file holding one flattened input. Exit codes: 0 with an example (verified; its status is printed), 1
without one (infeasible, time limit without an example, an example that fails the check), 2 for bad input.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from nnblocks.cli import EXIT_NO_SOLUTION, app, check_time_limit, usage_errors
from nnblocks.cli.models import load

_console = Console()

sample_app = typer.Typer(help="Sample uncertainty sets of networks (inner: perturbed weights; outer: retrained).",
                         no_args_is_help=True)
app.add_typer(sample_app, name="sample")


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------
DEFAULT_NETWORK = "nominal"

# The library's parameter names and the flags that set them: an error naming one is reported for its flag.
_FLAGS = {"gamma": "--gamma", "norm": "--norm", "max_distance": "--max-distance", "config": "--config",
          "target": "--target", "time_limit": "--time-limit", "solver": "--solver", "eps": "--eps", "n": "--n",
          "max_tries": "--max-tries", "epochs": "--epochs"}


def _load(spec: str | None, default: str = DEFAULT_NETWORK, option: str | None = "--network"):
    """A network from a path or a shipped name (``default`` when none is given)."""
    return load(default if spec is None else spec, option)


def _image(image: str) -> tuple[np.ndarray, int | None]:
    """(x̄, its class if known) from an index into the shipped nominal images or a .npy file."""
    from nnblocks.datasets import nominal_images

    if image.endswith(".npy"):
        path = Path(image)
        if not path.exists():
            raise typer.BadParameter(f"image file not found: {path}")
        with usage_errors():
            return np.load(path).astype(np.float64).reshape(-1), None
    try:
        i = int(image)
    except ValueError:
        raise typer.BadParameter(f"image must be an index 0..9 of the shipped nominal images or a .npy file, "
                                 f"got {image!r}") from None
    X, y, _ = nominal_images()
    if not 0 <= i < len(X):
        raise typer.BadParameter(f"image index must be in 0..{len(X) - 1}, got {i}")
    return X[i], int(y[i])


def _check_target(target: int, true: int | None, image: str) -> None:
    """Refuse a target equal to the known class of the image: the example would be the image itself."""
    if true is not None and target == true:
        from nnblocks.datasets import CLASSES

        raise typer.BadParameter(f"{target} is the true class of image {image} ({CLASSES[true]}): choose another "
                                 f"target class", param_hint="'--target'")


def _check_time_limit(time_limit: float | None) -> None:
    if time_limit is not None and not time_limit > 0:
        raise typer.BadParameter(f"the time limit must be a positive number of seconds, got {time_limit}",
                                 param_hint="'--time-limit'")
    check_time_limit(time_limit)


def _check_solver(solver: str | None) -> None:
    if solver is not None:
        from nnblocks.solve import check_solver

        with usage_errors("--solver"):
            check_solver(solver)


def _exit_code(result) -> None:
    """Exit 1 when the command ends without a verified example (the table shows why)."""
    if result.x_adv is None or not result.verified:
        if result.message:
            _console.print(f"[yellow]{result.message}[/yellow]")
        raise typer.Exit(EXIT_NO_SOLUTION)


def _check_outputs(write_model: Path | None = None, json_path: Path | None = None, plot: Path | None = None) -> None:
    """Fail before solving when an output file cannot be written (no such directory, a directory, bad suffix)."""
    if write_model is not None and write_model.suffix not in (".lp", ".mps"):
        raise typer.BadParameter(f"needs a .lp or .mps path, got {write_model}", param_hint="'--write-model'")
    for path, option in ((write_model, "--write-model"), (json_path, "--json"), (plot, "--plot")):
        if path is None:
            continue
        if path.is_dir():
            raise typer.BadParameter(f"{path} is a directory, expected a file path", param_hint=f"'{option}'")
        parent = path.parent
        if not parent.is_dir():
            raise typer.BadParameter(f"cannot write {path}: directory {parent} does not exist",
                                     param_hint=f"'{option}'")
        if not os.access(parent, os.W_OK):
            raise typer.BadParameter(f"cannot write {path}: directory {parent} is not writable",
                                     param_hint=f"'{option}'")


def _result_table(result, title: str, true: int | None) -> Table:
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("value", justify="right")

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.6g}"
        return str(v)

    rows = [("status", result.status.value), ("distance", result.distance), ("objective", result.objective),
            ("bound", result.bound), ("gap", result.gap), ("time (s)", result.time),
            ("solver time (s)", result.solve_time), ("nodes", result.nodes), ("variables", result.n_vars),
            ("binaries", result.n_binaries), ("constraints", result.n_constraints), ("verified", result.verified),
            ("certificate", result.certificate), ("solver", result.solver), ("config", result.config),
            ("margin", result.margin)]
    if true is not None:
        rows.insert(0, ("true -> target", f"{true} -> {result.target}"))
    for k, v in rows:
        table.add_row(k, fmt(v))
    return table


def _finish(result, model_path: Path | None, json_path: Path | None, plot_path: Path | None, x_bar, title, true,
            prep_model=None):
    _console.print(_result_table(result, title, true))
    if json_path is not None:
        record = result.as_dict()
        record["true"] = true
        record["x_adv"] = None if result.x_adv is None else result.x_adv.tolist()
        json_path.write_text(json.dumps(record, indent=1))
        _console.print(f"wrote {json_path}")
    if plot_path is not None and result.x_adv is not None:
        from nnblocks.plot.adversarial import plot_adversarial

        plot_adversarial(x_bar, result.x_adv, plot_path, suptitle=title)
        _console.print(f"wrote {plot_path}")


def _write_model(model_fn, path: Path | None) -> None:
    if path is None:
        return
    from nnblocks.solve import write

    with usage_errors(flags=_FLAGS):
        model = model_fn()
    write(model, path)
    _console.print(f"wrote {path}")


def _solve_with_status(fn, what: str, tee: bool = False):
    if tee:  # the solver's log goes to the terminal: no spinner over it
        with usage_errors(flags=_FLAGS):
            return fn()
    with _console.status(f"solving {what} ..."), usage_errors(flags=_FLAGS):
        return fn()


# ---------------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------------
@app.command()
def demo(
    image: Annotated[int, typer.Option(help="Shipped nominal image (= its class, 0..9).")] = 2,
    target: Annotated[int, typer.Option(help="Target class.")] = 1,
    plot: Annotated[Path, typer.Option(help="PNG to write.")] = Path("adversarial_demo.png"),
    tee: Annotated[bool, typer.Option("--tee", help="Show the solver's log.")] = False,
) -> None:
    """FJ adversarial example on the shipped Fashion-MNIST network (no external data needed)."""
    from nnblocks.adversarial import fj
    from nnblocks.datasets import CLASSES

    _check_outputs(plot=plot)
    net = _load(None)
    x_bar, true = _image(str(image))
    _check_target(target, true, str(image))
    result = _solve_with_status(lambda: fj(net, x_bar, target, tee=tee), "the FJ model", tee)
    title = f"FJ: {CLASSES[true]} -> {CLASSES[target]}"
    _finish(result, None, None, plot, x_bar, title, true)
    _exit_code(result)


@app.command("fj")
def fj_command(
    network: Annotated[str | None, typer.Option(
        "--network", "-n", help=f"Network: .onnx or .npz file or shipped name (default: shipped {DEFAULT_NETWORK}).",
        show_default=False)] = None,
    image: Annotated[str, typer.Option(help="Index of a shipped nominal image or a .npy file.")] = "2",
    target: Annotated[int, typer.Option(help="Target class.")] = 1,
    gamma: Annotated[float, typer.Option(help="Margin gamma.")] = 0.2,
    norm: Annotated[str, typer.Option(help="Distance: 1, 2 or inf (also l1, l2, linf).")] = "1",
    config: Annotated[str, typer.Option(help="default or paper.")] = "default",
    max_distance: Annotated[float | None, typer.Option(help="Certify up to this distance.")] = None,
    solver: Annotated[str | None, typer.Option(help="Solver name (default by problem class: nnblocks solvers).")
                      ] = None,
    time_limit: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    tee: Annotated[bool, typer.Option("--tee", help="Show the solver's log.")] = False,
    write_model: Annotated[Path | None, typer.Option(help="Write the model to PATH.lp or PATH.mps.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of image, example and difference.")] = None,
    batch: Annotated[Path | None, typer.Option(help="Many examples: a CSV of rows image,target (instead of "
                                               "--image/--target), one result row each in --out.")] = None,
    out: Annotated[Path, typer.Option(help="With --batch: the result file (.csv or .jsonl); resumed when it "
                                      "exists.")] = Path("fj_batch.csv"),
    workers: Annotated[int, typer.Option(help="With --batch: processes to spread the examples over.")] = 1,
) -> None:
    """Closest adversarial example for one network (FJ model; default network: the shipped nominal).

    With --batch FILE: one example per row (image,target) of FILE, written to --out as each ends (a second
    run with the same --out does only the rows without a result); exit code 0 when every row has a verified
    example.
    """
    from nnblocks.adversarial import fj, fj_model

    _check_time_limit(time_limit)
    _check_solver(solver)
    _check_outputs(write_model, json_path, plot)
    if batch is not None:
        _fj_batch(batch, out, workers, network, solver, time_limit, tee, write_model or json_path or plot,
                  dict(gamma=gamma, norm=norm, config=config, max_distance=max_distance))
        return
    net = _load(network)
    x_bar, true = _image(image)
    _check_target(target, true, image)
    kw = dict(gamma=gamma, norm=norm, config=config, max_distance=max_distance)
    _write_model(lambda: fj_model(net, x_bar, target, **kw), write_model)
    result = _solve_with_status(
        lambda: fj(net, x_bar, target, solver=solver, time_limit=time_limit, tee=tee, **kw), "FJ", tee)
    _finish(result, write_model, json_path, plot, x_bar, f"FJ, image {image} -> class {target}", true)
    _exit_code(result)


def _batch_rows(path: Path) -> list[tuple[str, int, int]]:
    """(image as written, target, line) of the rows ``image,target`` of an fj batch file (a header row and
    lines starting with # are skipped)."""
    import csv

    if not path.is_file():
        raise typer.BadParameter(f"file not found: {path}", param_hint="'--batch'")
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#") or (not rows and cells == ["image", "target"]):
                continue
            if len(cells) != 2:
                raise typer.BadParameter(f"{path}:{n}: expected 2 columns image,target, got {len(cells)}",
                                         param_hint="'--batch'")
            try:
                target = int(cells[1])
            except ValueError:
                raise typer.BadParameter(f"{path}:{n}: the target {cells[1]!r} is not a class index",
                                         param_hint="'--batch'") from None
            rows.append((cells[0], target, n))
    if not rows:
        raise typer.BadParameter(f"{path}: no rows image,target", param_hint="'--batch'")
    return rows


def fj_example(task: dict, net, solver: str | None, time_limit: float | None, tee: bool, kw: dict) -> dict:
    """One row of ``fj --batch``: the FJ example of ``task`` (module level: process workers run it)."""
    from nnblocks.adversarial import fj

    result = fj(net, task["x_bar"], task["target"], solver=solver, time_limit=time_limit, tee=tee, **kw)
    return {"image": task["image"], "true": task["true"], "target": task["target"], "status": result.status.value,
            "objective": result.objective, "distance": result.distance, "verified": result.verified,
            "time": result.time, "message": result.message}


def _fj_batch(path: Path, out: Path, workers: int, network: str | None, solver: str | None,
              time_limit: float | None, tee: bool, single_outputs: object, kw: dict) -> None:
    """``fj --batch``: every row of ``path`` through :func:`nnblocks.batch.run_batch` into ``out``."""
    import functools
    from collections import Counter

    from nnblocks.batch import run_batch
    from nnblocks.cli.verify import check_output

    if single_outputs:
        raise typer.BadParameter("--write-model, --json and --plot are for one example, not with --batch",
                                 param_hint="'--batch'")
    if workers < 1:
        raise typer.BadParameter(f"needs at least 1 worker, got {workers}", param_hint="'--workers'")
    check_output(out, "--out")
    net = _load(network)
    tasks = []
    for image, target, line in _batch_rows(path):
        where = image if not image.endswith(".npy") or Path(image).is_absolute() else str(path.parent / image)
        try:
            x_bar, true = _image(where)
            _check_target(target, true, image)
        except typer.BadParameter as exc:
            raise typer.BadParameter(f"{path}:{line}: {exc.message}", param_hint="'--batch'") from None
        tasks.append({"key": f"{image}|{target}", "image": image, "true": true, "target": target, "x_bar": x_bar})
    fn = functools.partial(fj_example, net=net, solver=solver, time_limit=time_limit, tee=tee, kw=kw)
    hard = None if time_limit is None else time_limit + max(10.0, 0.5 * time_limit)

    def failed(task: dict, status: str, message: str) -> dict:
        return {"image": task["image"], "true": task["true"], "target": task["target"], "status": status}

    with usage_errors(flags=_FLAGS):
        result = run_batch(tasks, fn, out, workers=workers, time_limit=hard, progress=not tee, on_failure=failed,
                           description=path.name)
    keys = {t["key"] for t in tasks}
    rows = [r for r in result.rows if r.get("key") in keys]
    verified = sum(str(r.get("verified")) == "True" for r in rows)
    table = Table(title=f"FJ batch {path.name}: {len(tasks)} examples ({result.ran} run now, {result.skipped} done "
                        "before)")
    table.add_column("status")
    table.add_column("examples", justify="right")
    for status, count in sorted(Counter(str(r.get("status")) for r in rows).items()):
        table.add_row(status, str(count))
    table.add_row("verified", str(verified))
    _console.print(table)
    _console.print(f"wrote {out}")
    if verified < len(tasks):
        raise typer.Exit(EXIT_NO_SOLUTION)


@app.command("arfj")
def arfj_command(
    networks: Annotated[list[str] | None, typer.Argument(
        help="Network files or shipped names (default: shipped nominal, outer_1..5).", show_default=False)] = None,
    image: Annotated[str, typer.Option(help="Index of a shipped nominal image or a .npy file.")] = "2",
    target: Annotated[int, typer.Option(help="Target class.")] = 1,
    gamma: Annotated[float, typer.Option(help="Margin gamma.")] = 0.2,
    norm: Annotated[str, typer.Option(help="Distance: 1, 2 or inf (also l1, l2, linf).")] = "1",
    config: Annotated[str, typer.Option(help="default or paper.")] = "default",
    solver: Annotated[str | None, typer.Option(help="Solver name (default by problem class: nnblocks solvers).")
                      ] = None,
    time_limit: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    tee: Annotated[bool, typer.Option("--tee", help="Show the solver's log.")] = False,
    write_model: Annotated[Path | None, typer.Option(help="Write the model to PATH.lp or PATH.mps.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of image, example and difference.")] = None,
) -> None:
    """Robust adversarial example for a set of networks (extensive form of ARFJ (4.1))."""
    from nnblocks.adversarial import arfj, arfj_model

    _check_time_limit(time_limit)
    _check_solver(solver)
    _check_outputs(write_model, json_path, plot)
    if networks:
        nets = [_load(p, option="NETWORKS") for p in networks]
    else:
        nets = [_load(None)] + [_load(None, f"outer_{i}") for i in range(1, 6)]
    x_bar, true = _image(image)
    _check_target(target, true, image)
    kw = dict(gamma=gamma, norm=norm, config=config)
    _write_model(lambda: arfj_model(nets, x_bar, target, **kw), write_model)
    result = _solve_with_status(
        lambda: arfj(nets, x_bar, target, solver=solver, time_limit=time_limit, tee=tee, **kw),
        f"ARFJ ({len(nets)} networks)", tee,
    )
    _finish(result, write_model, json_path, plot, x_bar, f"ARFJ ({len(nets)} networks), image {image} -> {target}",
            true)
    _exit_code(result)


@sample_app.command("inner")
def sample_inner(
    out: Annotated[Path, typer.Argument(help="Directory for the sampled networks (inner_<i>.npz).")],
    network: Annotated[str | None, typer.Option(
        "--network", "-n", help="Network file or shipped name (default: shipped nominal).", show_default=False)] = None,
    eps: Annotated[float, typer.Option(help="L1 radius of the weight perturbation (d_in).")] = 0.05,
    n: Annotated[int, typer.Option(help="Number of networks.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Networks at inner distance exactly eps (weights and biases perturbed on the L1 sphere)."""
    from rich.progress import track

    from nnblocks.metrics import d_in
    from nnblocks.sampling import inner

    net = _load(network)
    with usage_errors(flags=_FLAGS):
        nets = inner(net, eps=eps, n=n, rng=seed)
    out.mkdir(parents=True, exist_ok=True)
    table = Table(title=f"inner sample, eps = {eps}")
    table.add_column("file")
    table.add_column("d_in", justify="right")
    for i, s in enumerate(track(nets, description="writing"), start=1):
        path = out / f"inner_{i}.npz"
        s.save(path)
        table.add_row(str(path), f"{d_in(s, net):.6g}")
    _console.print(table)


@sample_app.command("outer")
def sample_outer(
    out: Annotated[Path, typer.Argument(help="Directory for the accepted networks (outer_<i>.npz).")],
    data: Annotated[Path | None, typer.Option(help="IDX dir (default: $NNBLOCKS_FASHION_MNIST).")] = None,
    network: Annotated[str | None, typer.Option(
        "--network", "-n", help="Reference: file or shipped name (default: shipped nominal).", show_default=False)
    ] = None,
    eps: Annotated[float, typer.Option(help="Acceptance threshold on d_osd.")] = 0.2,
    n: Annotated[int, typer.Option(help="Networks to accept.")] = 5,
    max_tries: Annotated[int, typer.Option(help="Training runs at most.")] = 50,
    epochs: Annotated[int, typer.Option(help="Training epochs per network.")] = 50,
    n_reference: Annotated[int, typer.Option(help="Reference inputs: the first training images.")] = 50,
) -> None:
    """Networks retrained from scratch, kept when their d_osd to the reference is below eps (needs torch).

    Exit code 1 when fewer than N networks were accepted within --max-tries (the accepted ones are written).
    """
    import importlib.util

    from nnblocks.datasets import fashion_mnist
    from nnblocks.sampling import outer
    from nnblocks.train.classifier import classifier

    if data is None and not os.environ.get("NNBLOCKS_FASHION_MNIST"):
        raise typer.BadParameter("give the Fashion-MNIST IDX directory (or set NNBLOCKS_FASHION_MNIST; "
                                 "python -c 'import nnblocks.datasets as d; d.download_fashion_mnist(DIR)' "
                                 "downloads it)", param_hint="'--data'")
    if data is not None and not data.is_dir():
        raise typer.BadParameter(f"directory not found: {data}", param_hint="'--data'")
    if importlib.util.find_spec("torch") is None:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")
    ref = _load(network)
    with usage_errors("--data"):
        ds = fashion_mnist(data)
    X_train, y_train = ds[0], ds[1]

    def train(seed: int):
        return classifier(X_train, y_train, epochs=epochs, seed=seed, progress=False)

    out.mkdir(parents=True, exist_ok=True)
    with usage_errors(flags=_FLAGS):
        sample = outer(train, ref, X_train[:n_reference], eps=eps, n=n, max_tries=max_tries)
    table = Table(title=f"outer sample, eps = {eps}: {sample.acceptances} of {sample.tries} accepted")
    table.add_column("file")
    table.add_column("seed", justify="right")
    table.add_column("d_osd", justify="right")
    for i, (net, seed, d) in enumerate(zip(sample.networks, sample.seeds, sample.distances), start=1):
        path = out / f"outer_{i}.npz"
        net.save(path)
        table.add_row(str(path), str(seed), f"{d:.5f}")
    _console.print(table)
    if sample.acceptances < n:
        _console.print(f"[yellow]only {sample.acceptances} of {n} networks accepted within {max_tries} tries[/yellow]")
        raise typer.Exit(EXIT_NO_SOLUTION)


def _example(path: Path) -> np.ndarray:
    """The example of a .npy file or of a result file written by ``fj --json`` / ``arfj --json``."""
    if path.suffix != ".json":
        with usage_errors():
            return np.load(path).astype(np.float64).reshape(-1)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or "x_adv" not in record:
        raise typer.BadParameter(f"{path} has no 'x_adv' entry (expected a result file of fj/arfj --json)")
    if record["x_adv"] is None:
        raise typer.BadParameter(f"{path} holds no example: its x_adv is null (status {record.get('status')!r})")
    with usage_errors():
        return np.asarray(record["x_adv"], dtype=np.float64).reshape(-1)


@app.command()
def evaluate(
    example: Annotated[Path, typer.Argument(help=".npy file with the adversarial example (or a --json result file).")],
    true: Annotated[int, typer.Option(help="True class.")],
    target: Annotated[int, typer.Option(help="Target class.")],
    networks: Annotated[
        list[str] | None, typer.Option("--network", "-n", help="Network files or shipped names (default: shipped "
                                       "outer_eval_1..15).", show_default=False)
    ] = None,
) -> None:
    """Share of networks classifying the example as target / true / other, mean probabilities (Tables 4, 5)."""
    from nnblocks.metrics import evaluate as evaluate_fn

    if not example.exists():
        raise typer.BadParameter(f"file not found: {example}")
    x = _example(example)
    nets = [_load(p) for p in networks] if networks else [_load(None, f"outer_eval_{i}") for i in range(1, 16)]
    with usage_errors():
        ev = evaluate_fn(x, nets, true, target)
    table = Table(title=f"evaluation on {ev.n_networks} networks ({true} -> {target})")
    for c in ("", "target", "true", "other"):
        table.add_column(c, justify="right")
    table.add_row("classified as", f"{ev.target_share:.2%}", f"{ev.true_share:.2%}", f"{ev.other_share:.2%}")
    table.add_row("mean probability", f"{ev.target_probability:.2%}", f"{ev.true_probability:.2%}",
                  f"{ev.other_probability:.2%}")
    _console.print(table)
    _console.print(f"weak confidence mean(p_target - p_true): {ev.weak_confidence:.2%}")
