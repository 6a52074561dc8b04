"""nnblocks.batch.run_batch: one row per task, written as the task ends; a second run does only the rest.

Specification: after any sequence of runs (interrupted or not) over the same tasks and result file, the file
holds each task exactly once; the rows do not depend on where the tasks ran (here, a spawn process pool, a
Dask cluster); an exception in a task is an ``error`` row, a task past its time limit a ``timeout`` row.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from nnblocks.batch import TaskStatus, read_rows, run_batch, task_key

FORMATS = ["csv", "jsonl"]


# -- tasks (module level: spawned workers import them) ----------------------------------------------------------
def square(t: int) -> dict:
    return {"x": t, "y": t * t}


def square_or_fail(t: int) -> dict:
    if t % 3 == 1:
        raise ValueError(f"task {t}\nfails")
    return square(t)


def square_or_die(t: int) -> dict:
    if t == 2:
        time.sleep(0.5)  # the others finish first
        os._exit(3)  # the worker process dies, as if killed
    return square(t)


def sleepy(t: int) -> dict:
    if t == 1:
        time.sleep(30)
    return square(t)


def _plain(rows: list[dict]) -> list[tuple]:
    """The rows without their wall times, sorted by key, values as text (CSV reads everything back as text)."""
    return sorted(tuple(sorted((k, str(v)) for k, v in r.items() if k != "wall_time")) for r in rows)


def _keys(path) -> list[str]:
    return [r["key"] for r in read_rows(path)]


# -- rows ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_one_row_per_task_with_the_fields_of_fn(tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    result = run_batch(range(5), square, out, progress=False)
    assert (result.ran, result.skipped, result.errors, result.timeouts) == (5, 0, 0, 0)
    rows = read_rows(out)
    assert [r["key"] for r in rows] == ["0", "1", "2", "3", "4"]
    for t, r in enumerate(rows):
        assert str(r["y"]) == str(t * t) and r["task_status"] == "ok" and float(r["wall_time"]) >= 0
    assert _plain(result.rows) == _plain(rows)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_exception_is_an_error_row_and_the_batch_goes_on(tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    result = run_batch(range(6), square_or_fail, out, progress=False)
    rows = {r["key"]: r for r in read_rows(out)}
    assert set(rows) == {str(t) for t in range(6)} and result.errors == 2
    for t in (1, 4):
        assert rows[str(t)]["task_status"] == TaskStatus.ERROR
        assert rows[str(t)]["message"] == f"ValueError: task {t} fails"  # on one line
    assert str(rows["5"]["y"]) == "25" and rows["5"]["task_status"] == "ok"


def test_a_csv_gets_the_columns_of_rows_that_come_after_an_error_row(tmp_path):
    out = tmp_path / "r.csv"
    run_batch([1, 2, 3], square_or_fail, out, progress=False)  # task 1 fails first: no x, y yet
    header = out.read_text().splitlines()[0].split(",")
    assert header == ["key", "x", "y", "task_status", "wall_time", "message"]  # the task's fields first
    assert {r["key"]: r["y"] for r in read_rows(out)} == {"1": "", "2": "4", "3": "9"}


def test_on_failure_fills_the_columns_of_failed_rows(tmp_path):
    out = tmp_path / "r.jsonl"
    run_batch([1, 2], square_or_fail, out, progress=False,
              on_failure=lambda task, status, message: {"x": task, "y": status})
    rows = {r["key"]: r for r in read_rows(out)}
    assert rows["1"]["x"] == 1 and rows["1"]["y"] == "error" and rows["1"]["message"].startswith("ValueError")


def test_a_task_past_its_time_limit_is_a_timeout_row(tmp_path):
    out = tmp_path / "r.csv"
    start = time.perf_counter()
    result = run_batch(range(3), sleepy, out, time_limit=0.5, progress=False)
    assert time.perf_counter() - start < 10
    rows = {r["key"]: r for r in read_rows(out)}
    assert rows["1"]["task_status"] == "timeout" and "0.5 s" in rows["1"]["message"]
    assert rows["0"]["task_status"] == rows["2"]["task_status"] == "ok" and result.timeouts == 1
    # a limit per task: only task 1 gets one
    out2 = tmp_path / "r2.csv"
    run_batch(range(3), sleepy, out2, time_limit=lambda t: 0.5 if t == 1 else None, progress=False)
    assert [r["task_status"] for r in read_rows(out2)] == ["ok", "timeout", "ok"]


# -- resume -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_an_interrupted_run_resumes_with_the_rest_only(tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    calls = []

    def interrupted_at_3(t):
        if t == 3:
            raise KeyboardInterrupt  # as Ctrl-C while task 3 runs
        calls.append(t)
        return square(t)

    with pytest.raises(KeyboardInterrupt):
        run_batch(range(6), interrupted_at_3, out, progress=False)
    assert _keys(out) == ["0", "1", "2"]  # the finished tasks' rows were written as they ended

    calls.clear()

    def counted(t):
        calls.append(t)
        return square(t)

    result = run_batch(range(6), counted, out, progress=False)
    assert calls == [3, 4, 5] and (result.ran, result.skipped) == (3, 3)
    assert _keys(out) == ["0", "1", "2", "3", "4", "5"]  # each task once
    assert _plain(read_rows(out)) == _plain(run_batch(range(6), square, tmp_path / f"s.{fmt}",
                                                      progress=False).rows)
    # a third run has nothing to do
    calls.clear()
    assert run_batch(range(6), counted, out, progress=False).ran == 0 and calls == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_row_cut_off_by_a_kill_is_dropped_and_its_task_run_again(tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    run_batch(range(3), square, out, progress=False)
    with out.open("a") as f:  # a run killed while writing the row of task 3
        f.write('{"key": "3", "x": 3' if fmt == "jsonl" else "3,3")
    assert _keys(out) == ["0", "1", "2"]
    result = run_batch(range(5), square, out, progress=False)
    assert result.ran == 2 and _keys(out) == ["0", "1", "2", "3", "4"]


def test_resume_false_starts_anew_and_rerun_repeats_the_chosen_statuses(tmp_path):
    out = tmp_path / "r.csv"
    run_batch(range(4), square_or_fail, out, progress=False)
    result = run_batch(range(4), square, out, progress=False, rerun=("error",))
    assert result.ran == 1 and result.skipped == 3
    rows = read_rows(out)
    assert sorted(r["key"] for r in rows) == ["0", "1", "2", "3"]
    assert all(r["task_status"] == "ok" for r in rows)
    assert run_batch(range(2), square, out, progress=False, resume=False).ran == 2
    assert _keys(out) == ["0", "1"]


def test_keys(tmp_path):
    assert task_key({"key": 7, "a": 1}) == "7"
    assert task_key({"b": 1, "a": 2}) == task_key({"a": 2, "b": 1}) == json.dumps({"a": 2, "b": 1})
    assert task_key(("net.onnx", "p.vnnlib")) == "net.onnx|p.vnnlib" and task_key(3) == "3"
    out = tmp_path / "r.csv"
    run_batch([{"key": "a", "v": 1}, {"key": "b", "v": 2}], lambda t: {"v": t["v"]}, out, progress=False)
    assert {r["key"]: r["v"] for r in read_rows(out)} == {"a": "1", "b": "2"}
    run_batch([5, 6], square, out, key=lambda t: f"task-{t}", progress=False)
    assert _keys(out) == ["a", "b", "task-5", "task-6"]


def test_bad_arguments_are_refused_before_any_task(tmp_path):
    with pytest.raises(ValueError, match="two tasks have the key '1'"):
        run_batch([1, 1], square, tmp_path / "r.csv", progress=False)
    with pytest.raises(ValueError, match=r"out must be a \.csv or \.jsonl"):
        run_batch([1], square, tmp_path / "r.txt", progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        run_batch([1], square, tmp_path / "no" / "r.csv", progress=False)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        run_batch([1], square, tmp_path / "r.csv", workers=0, progress=False)
    with pytest.raises(ValueError, match="not both"):
        run_batch([1], square, tmp_path / "r.csv", workers=2, dask="tcp://localhost:1", progress=False)
    assert not (tmp_path / "r.csv").exists()


def test_the_progress_bar_goes_to_stderr(tmp_path, capsys):
    run_batch(range(3), square, tmp_path / "r.csv", progress=True, description="squares")
    captured = capsys.readouterr()
    assert captured.out == "" and "squares" in captured.err and "3/3" in captured.err


# -- where the tasks run ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_spawned_worker_processes_give_the_serial_rows(tmp_path):
    serial = run_batch(range(8), square_or_fail, tmp_path / "serial.csv", progress=False)
    pooled = run_batch(range(8), square_or_fail, tmp_path / "pooled.csv", workers=2, time_limit=60,
                       progress=False)
    assert sorted(_keys(tmp_path / "pooled.csv")) == sorted(str(t) for t in range(8))
    assert _plain(pooled.rows) == _plain(serial.rows)
    assert _plain(read_rows(tmp_path / "pooled.csv")) == _plain(read_rows(tmp_path / "serial.csv"))


@pytest.mark.slow
def test_a_dead_worker_process_stops_the_run_and_the_next_run_resumes(tmp_path):
    out = tmp_path / "r.csv"
    with pytest.raises(RuntimeError, match="a worker process died"):
        run_batch(range(4), square_or_die, out, workers=2, progress=False)
    done = _keys(out)
    assert "2" not in done and len(done) == len(set(done))
    result = run_batch(range(4), square, out, progress=False)
    assert result.ran == 4 - len(done) and sorted(_keys(out)) == ["0", "1", "2", "3"]


def test_a_local_dask_cluster_gives_the_serial_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    serial = run_batch(range(6), square_or_fail, tmp_path / "serial.jsonl", progress=False)
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cl,
        distributed.Client(cl) as client,
    ):
        out = tmp_path / "dask.jsonl"
        first = run_batch(range(4), square_or_fail, out, dask=client, progress=False)
        assert first.ran == 4 and first.errors == 1
        second = run_batch(range(6), square_or_fail, out, dask=client, progress=False)  # resumes on the cluster
        assert second.ran == 2 and second.skipped == 4
        assert not client.status == "closed"  # a client passed in is the caller's to close
        by_address = run_batch(range(6), square_or_fail, tmp_path / "address.jsonl", dask=cl.scheduler_address,
                               progress=False)  # a client of its own, closed at the end
        assert _plain(by_address.rows) == _plain(serial.rows)
    assert sorted(_keys(out)) == [str(t) for t in range(6)]
    assert _plain(read_rows(out)) == _plain(serial.rows)
