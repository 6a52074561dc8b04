"""Resumable batch runs: one task per row of a result file, on one process, a process pool or a Dask cluster.

:func:`run_batch` calls ``fn(task)`` for every task and writes one row per task to a CSV or JSON-lines file as
soon as the task ends (flushed, so a run that is killed loses only the tasks it was running). The row holds the
task's key, the fields ``fn`` returned, the ``task_status`` (:class:`TaskStatus`), its ``wall_time`` and a
``message`` for tasks that failed. Run again on the same file, it skips every task whose key has a row: a batch
resumes where a previous run stopped.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import enum
import io
import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from nnblocks._results import AsDict, to_jsonable

__all__ = ["BatchResult", "TaskStatus", "TaskTimeout", "read_rows", "run_batch", "task_key"]

_RUNNER_FIELDS = ("task_status", "wall_time", "message")


class TaskStatus(enum.StrEnum):
    """How a task of a batch ended (the ``task_status`` column of its row)."""

    OK = "ok"
    """``fn`` returned; its fields are in the row."""
    ERROR = "error"
    """``fn`` raised an exception; ``message`` is its type and text on one line."""
    TIMEOUT = "timeout"
    """The task ran past its time limit and was interrupted (:class:`TaskTimeout`)."""


class TaskTimeout(BaseException):
    """Raised inside a task when it runs past its time limit.

    It derives from BaseException so that a task's own ``except Exception`` does not swallow it.
    """


@dataclasses.dataclass
class BatchResult(AsDict):
    """What :func:`run_batch` did: ``rows`` are all rows of the result file (earlier runs' too, in the file's
    order; CSV values as text), ``ran`` the tasks run now, ``skipped`` those found done in the file, ``errors``
    and ``timeouts`` the rows of this run with those statuses, ``time`` the run's wall seconds."""

    path: str
    rows: list[dict[str, Any]]
    ran: int
    skipped: int
    errors: int
    timeouts: int
    time: float


def task_key(task: Any) -> str:
    """The default key of a task: ``task["key"]`` for a mapping that has one, the mapping's items as sorted JSON
    for other mappings, the ``|``-joined entries of a tuple or list, ``str(task)`` otherwise."""
    if isinstance(task, Mapping):
        if "key" in task:
            return str(task["key"])
        return json.dumps(to_jsonable(dict(task), "task"), sort_keys=True)
    if isinstance(task, tuple | list):
        return "|".join(str(v) for v in task)
    return str(task)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ValueError(f"out must be a .csv or .jsonl (JSON lines) path, got {path}")


# ---------------------------------------------------------------------------------------------------
# the result file
# ---------------------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    """A CSV cell: None as empty, lists and dicts as JSON, numbers as Python writes them (they read back)."""
    value = to_jsonable(value, "row")
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _complete_text(path: Path) -> str:
    """The file's text without a last line that a killed run left unfinished (no newline at its end)."""
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return text


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a result file of :func:`run_batch` (CSV values as text, JSON lines as written); a last line
    left unfinished by a killed run is left out. An empty list for a missing file."""
    path = Path(path)
    if not path.exists():
        return []
    fmt = _format(path)
    text = _complete_text(path)
    if fmt == "csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not a JSON line ({exc.msg})") from None
    return rows


class _ResultFile:
    """Rows appended one by one and flushed; a CSV file whose rows bring new columns is rewritten with the wider
    header (csv.DictWriter needs its columns up front)."""

    def __init__(self, path: Path, rows: list[dict[str, Any]]) -> None:
        self.path, self.fmt = path, _format(path)
        self.rows = rows
        self.header: list[str] = []
        for row in rows:
            self._widen(row)
        self.rewrite(rows)  # drops an unfinished last line; the header in its final order
        self.file = self.path.open("a", encoding="utf-8", newline="")

    def _widen(self, row: dict[str, Any]) -> bool:
        """Add the row's new columns to the header, before the runner's columns; whether there were any."""
        new = [k for k in row if k not in self.header]
        if new:
            names = [*self.header, *new]
            first = [k for k in ("key",) if k in names]
            last = [k for k in _RUNNER_FIELDS if k in names]
            self.header = first + [k for k in names if k not in first and k not in last] + last
        return bool(new)

    def _text(self, rows: list[dict[str, Any]], header: bool) -> str:
        buf = io.StringIO()
        if self.fmt == "csv":
            writer = csv.DictWriter(buf, self.header, restval="", lineterminator="\n")
            if header:
                writer.writeheader()
            writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        else:
            for row in rows:
                buf.write(json.dumps(to_jsonable(row, "row"), allow_nan=False) + "\n")
        return buf.getvalue()

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the file by ``rows`` at once (a temporary file moved over it)."""
        self.rows = list(rows)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(self._text(self.rows, header=bool(self.header)), encoding="utf-8")
        os.replace(tmp, self.path)

    def append(self, row: dict[str, Any]) -> None:
        if self._widen(row) and self.fmt == "csv":
            self.file.close()
            self.rewrite([*self.rows, row])
            self.file = self.path.open("a", encoding="utf-8", newline="")
            return
        self.file.write(self._text([row], header=False))
        self.file.flush()
        self.rows.append(row)

    def close(self) -> None:
        self.file.close()


# ---------------------------------------------------------------------------------------------------
# running one task
# ---------------------------------------------------------------------------------------------------
def _on_alarm(signum: int, frame: Any) -> None:
    raise TaskTimeout()


def _run_task(fn: Callable[[Any], Mapping[str, Any] | None], task: Any, limit: float | None
              ) -> tuple[str, dict[str, Any], str, float]:
    """(status, fields, message, wall seconds) of ``fn(task)``; exceptions become ``error``.

    The time limit is a SIGALRM timer where one can be set (the main thread of a process on a POSIX system: the
    serial runner and process-pool workers); it interrupts Python code, and a call into compiled code (a solver)
    when that returns. Dask runs tasks in worker threads, where only the task's own limit applies.
    """
    start = time.perf_counter()
    timer = (limit is not None and hasattr(signal, "setitimer")
             and threading.current_thread() is threading.main_thread())
    previous = None
    try:
        if timer:
            previous = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, float(limit))
        try:
            fields = fn(task)
        finally:
            if timer:
                signal.setitimer(signal.ITIMER_REAL, 0.0)
        status, message = TaskStatus.OK.value, ""
        fields = dict(fields or {})
    except TaskTimeout:
        status, fields, message = TaskStatus.TIMEOUT.value, {}, f"stopped at the time limit of {limit:g} s"
    except Exception as exc:  # noqa: BLE001 - a failing task becomes an error row, never the batch's end
        status, fields, message = TaskStatus.ERROR.value, {}, _one_line(f"{type(exc).__name__}: {exc}")
    finally:
        if timer:
            signal.signal(signal.SIGALRM, previous)
    return status, fields, message, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------------------------------
class _Executor:
    """The executor of a run: None (in this process), a spawn process pool, or a Dask client's executor."""

    def __init__(self, workers: int, dask: Any) -> None:
        self.executor: concurrent.futures.Executor | None = None
        self.client = None
        self.own_client = False
        if dask is not None:
            from distributed import Client

            if isinstance(dask, Client):
                self.client = dask
            elif isinstance(dask, str):
                self.client, self.own_client = Client(dask), True
            else:
                raise TypeError(f"dask must be a scheduler address or a distributed.Client, got {type(dask).__name__}")
            self.executor = self.client.get_executor(pure=False)
        elif workers > 1:
            # spawn, not fork: the parent holds threads (the progress bar's refresh thread, solver and BLAS thread
            # pools) whose locks a forked child would inherit in whatever state they were, which can hang it;
            # spawned workers start a fresh interpreter, the same on Linux, macOS and Windows.
            self.executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def close(self, cancel: bool) -> None:
        if isinstance(self.executor, concurrent.futures.ProcessPoolExecutor):
            self.executor.shutdown(wait=not cancel, cancel_futures=cancel)
        elif self.executor is not None:  # a Dask client's executor cancels its futures at shutdown without wait
            self.executor.shutdown(wait=not cancel)
        if self.own_client:
            self.client.close()


def _progress_bar(enabled: bool, total: int, description: str):
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), console=Console(stderr=True))
    bar.start()
    bar.add_task(description, total=total)
    return bar


# ---------------------------------------------------------------------------------------------------
# the runner
# ---------------------------------------------------------------------------------------------------
def run_batch(
    tasks: Iterable[Any],
    fn: Callable[[Any], Mapping[str, Any] | None],
    out: str | os.PathLike,
    *,
    key: Callable[[Any], str] = task_key,
    workers: int = 1,
    dask: Any = None,
    time_limit: float | Callable[[Any], float | None] | None = None,
    progress: bool = True,
    resume: bool = True,
    rerun: Collection[str] = (),
    on_failure: Callable[[Any, str, str], Mapping[str, Any]] | None = None,
    description: str = "tasks",
) -> BatchResult:
    """Run ``fn(task)`` for every task and write one row per task to ``out`` as soon as it ends.

    Parameters
    ----------
    tasks
        The tasks: any picklable objects (for ``workers > 1`` or ``dask``), each with a distinct key.
    fn
        ``fn(task)`` returns the row's fields as a mapping (or None). With ``workers > 1`` or ``dask`` it must be
        picklable: a function defined at module level, or a ``functools.partial`` of one.
    out
        The result file: ``.csv`` or ``.jsonl`` (JSON lines). Each row is ``key``, the fields of ``fn``, then
        ``task_status`` (``ok``, ``error``, ``timeout``: :class:`TaskStatus`), ``wall_time`` (s) and ``message``.
    key
        The stable key of a task (default :func:`task_key`), the same in every run of the batch.
    workers
        Processes to spread the tasks over (a ``ProcessPoolExecutor`` of spawned processes); 1 runs them here.
    dask
        A Dask scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``: the tasks run on its
        workers (``workers`` is then not used). The client of an address is closed at the end.
    time_limit
        Seconds per task (a number, or a function of the task; None: no limit): a task still running then is
        interrupted and gets a ``timeout`` row. The limit is a SIGALRM timer, set where one can be (the main
        thread of a process on a POSIX system: the serial runner and process-pool workers); it interrupts Python
        code, and a call into compiled code (a solver) when that returns. Dask runs tasks in worker threads,
        where only a limit that ``fn`` applies itself (e.g. a solver's time limit) holds.
    progress
        Show a progress bar (rich, on stderr).
    resume
        Skip the tasks whose key has a row in ``out`` already; ``False`` starts the file anew.
    rerun
        Statuses (e.g. ``("error", "timeout")``) whose earlier rows are dropped and their tasks run again.
    on_failure
        ``on_failure(task, status, message)`` gives the fields of a row whose task raised or timed out (e.g.
        the task's own columns), so that every row has them.
    description
        The progress bar's label.

    Returns
    -------
    BatchResult
        The rows of the file and the counts of this run. A ``KeyboardInterrupt`` (or a worker process that
        dies) ends the run with the rows of the tasks finished so far in the file.
    """
    start = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if dask is not None and workers != 1:
        raise ValueError("give workers or dask, not both")
    path = Path(out)
    _format(path)
    if not path.parent.is_dir():
        raise ValueError(f"out: directory {path.parent} does not exist")
    rerun = {TaskStatus(s).value for s in rerun}
    tasks = list(tasks)
    keys = [key(t) for t in tasks]
    seen: set[str] = set()
    for k in keys:
        if k in seen:
            raise ValueError(f"two tasks have the key {k!r}: every task needs its own key")
        seen.add(k)

    rows = read_rows(path) if resume else []
    rows = [r for r in rows if r.get("task_status") not in rerun]
    done = {str(r.get("key")) for r in rows}
    todo = [(k, t) for k, t in zip(keys, tasks) if k not in done]
    skipped = len(tasks) - len(todo)
    results = _ResultFile(path, rows)

    def limit_of(task: Any) -> float | None:
        value = time_limit(task) if callable(time_limit) else time_limit
        return None if value is None else float(value)

    counts = {s.value: 0 for s in TaskStatus}
    bar = _progress_bar(progress and bool(todo), len(todo), description)

    def record(k: str, task: Any, outcome: tuple[str, dict[str, Any], str, float]) -> None:
        status, fields, message, wall = outcome
        if status != TaskStatus.OK.value and on_failure is not None:
            fields = {**dict(on_failure(task, status, message)), **fields}
        row = {"key": k, **{f: v for f, v in fields.items() if f not in ("key", *_RUNNER_FIELDS)},
               "task_status": status, "wall_time": wall, "message": fields.get("message") or message}
        results.append(row)
        counts[status] += 1
        if bar is not None:
            bar.advance(bar.task_ids[0])

    executor = None
    cancel = True
    try:
        executor = _Executor(workers, dask)
        if executor.executor is None:
            for k, task in todo:
                record(k, task, _run_task(fn, task, limit_of(task)))
        else:
            futures = {executor.executor.submit(_run_task, fn, task, limit_of(task)): (k, task) for k, task in todo}
            for future in concurrent.futures.as_completed(futures):
                k, task = futures[future]
                try:
                    outcome = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    raise RuntimeError(
                        f"a worker process died (killed, or out of memory) while running; the rows of the finished "
                        f"tasks are in {path}: run again to resume") from None
                except Exception as exc:  # noqa: BLE001 - e.g. a task that does not pickle: its row says so
                    outcome = (TaskStatus.ERROR.value, {}, _one_line(f"{type(exc).__name__}: {exc}"), 0.0)
                record(k, task, outcome)
        cancel = False
    finally:
        if bar is not None:
            bar.stop()
        results.close()
        if executor is not None:
            executor.close(cancel)
    return BatchResult(str(path), list(results.rows), len(todo), skipped, counts["error"], counts["timeout"],
                       time.perf_counter() - start)
