"""The local runner (components/pipeline/local.py) reads what kfp.local did from kfp.local itself:
the tasks, their runs and ends from its log records, a failed task from the task directories, the
outputs from the task it returns; a failed step's error line from the file the step wrote. Small
pipelines of lightweight components run through kfp.local here (each step a subprocess, well
under a second); a step that prints kfp.local's own kind of lines does not fool it."""

import json
import os

import pytest
from kfp import dsl

from components.common.errors import STEP_ERRORS_ENV, UserError
from components.pipeline import local

DECOYS = ("Executing task 'decoy'", "Task 'decoy' finished with status SUCCESS",
          "Task 'make-items' finished with status FAILURE", "Inner task failed: 'decoy'.")


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def make_items(count: int, fail_item: int, items: dsl.Output[dsl.Dataset]) -> list:
    with open(items.path, "w") as f:
        f.write(str(count))
    return [{"index": i, "fail": i == fail_item} for i in range(count)]


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def work_on_item(item: dict, decoys: list, part: dsl.Output[dsl.Dataset]):
    for line in decoys:  # what the old console reader took for kfp.local's own lines
        print(line)
    index = int(item["index"])  # a number in a loop item comes back a float
    if item["fail"]:
        raise ValueError(f"item {index} is bad")
    with open(part.path, "w") as f:
        f.write(str(index))


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def merge_parts(parts: dsl.Input[list[dsl.Dataset]], merged: dsl.Output[dsl.Dataset]):
    with open(merged.path, "w") as f:
        f.write(",".join(sorted(open(p.path).read() for p in parts)))


@dsl.pipeline(name="toy-loop")
def toy_loop(count: int = 2, fail_item: int = -1) -> dsl.Dataset:
    made = make_items(count=count, fail_item=fail_item)
    with dsl.ParallelFor(made.outputs["Output"]) as item:
        worked = work_on_item(item=item, decoys=list(DECOYS))
    return merge_parts(parts=dsl.Collected(worked.outputs["part"])).outputs["merged"]


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def check_rows(rows: int) -> int:
    from components.common.errors import UserError, recording_step_error

    with recording_step_error():  # as the generated components do
        if rows < 10:
            print("error: printed by the step: UserError: not this")
            raise UserError(f"only {rows} rows kept", where="--param rows",
                            fix="pass at least 10")
    return rows


@dsl.pipeline(name="toy-check")
def toy_check(rows: int):
    check_rows(rows=rows)


@pytest.fixture
def subprocess_env(monkeypatch, repo_root):
    """A step that imports this checkout finds it (kfp.local's subprocesses inherit the
    environment)."""
    monkeypatch.setenv("PYTHONPATH", str(repo_root))


def _console_lines(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_tasks_runs_and_outputs_come_from_kfp_local_not_the_steps_output(tmp_path, capsys):
    outputs, events, run_dir = local.execute(toy_loop, {"count": 2}, tmp_path / "root")
    assert set(events.tasks) == {"make-items", "work-on-item", "merge-parts"}
    assert events.tasks["work-on-item"]["runs"] == 2
    assert {t["status"] for t in events.tasks.values()} == {"SUCCESS"}
    assert all(t["end"] >= t["start"] for t in events.tasks.values())
    assert events.failures == []
    with open(outputs["Output"].path, encoding="utf-8") as f:
        assert f.read() == "0,1"
    # The console: one line per finished step (the loop's step once per item), nothing else.
    lines = _console_lines(capsys)
    assert sorted(line.split()[0] for line in lines) == [
        "make-items", "merge-parts", "work-on-item", "work-on-item"]
    assert all(line.split()[1] == "success" for line in lines), lines
    # The steps' own output, decoys included, is in run.log only, without colour codes.
    with open(os.path.join(run_dir, local.RUN_LOG), encoding="utf-8") as f:
        log = f.read()
    assert all(decoy in log for decoy in DECOYS) and "\x1b[" not in log
    assert [(task, finished) for task, _, finished in local.task_outcomes(run_dir)] == [
        ("work-on-item", True), ("work-on-item", True), ("make-items", True),
        ("merge-parts", True)]

    # Again: every task a cache hit; kfp.local makes no directory, the runner one for the log.
    outputs, events, again = local.execute(toy_loop, {"count": 2}, tmp_path / "root")
    assert events.tasks == {} and again != run_dir
    assert os.listdir(again) == [local.RUN_LOG]
    assert outputs["Output"].uri.startswith(run_dir)


def test_a_failed_loop_step_is_named_from_its_task_directory(tmp_path, capsys):
    with pytest.raises(UserError) as stopped:
        local.execute(toy_loop, {"count": 2, "fail_item": 1}, tmp_path / "root")
    run_dir = stopped.value.where
    assert os.path.dirname(run_dir) == str(tmp_path / "root")
    assert stopped.value.what == ("pipeline 'toy-loop' failed in step 'work-on-item' inside "
                                  "'for-loop-1-iteration-1' (its log is in run.log; --verbose "
                                  "also shows it)")
    with open(os.path.join(run_dir, local.RUN_LOG), encoding="utf-8") as f:
        assert "ValueError: item 1 is bad" in f.read()
    assert ("work-on-item", ("for-loop-1-iteration-1",), False) in local.task_outcomes(run_dir)
    assert "failure" in capsys.readouterr().out


def test_a_step_without_a_directory_is_named_from_kfp_locals_record_with_its_one_line(
        tmp_path, capsys, subprocess_env, monkeypatch):
    """check_rows has no artifact output, so it fails before kfp.local's executor makes its
    directory (and the run's): the name comes from kfp.local's record of the failure, the
    message from the file the step wrote its UserError in (where `local_settings` points every
    task of a run), and the runner makes the run directory."""
    monkeypatch.setenv(STEP_ERRORS_ENV, local.step_errors_dir(tmp_path / "root"))
    stale = tmp_path / "root" / local.STEP_ERRORS / "1.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("an earlier run's error")
    with pytest.raises(UserError) as stopped:
        local.execute(toy_check, {"rows": 3}, tmp_path / "root")
    run_dir = stopped.value.where
    assert stopped.value.what == ("step 'check-rows' stopped: only 3 rows kept (--param rows); "
                                  "pass at least 10")
    assert os.listdir(run_dir) == [local.RUN_LOG]
    assert "Traceback" not in capsys.readouterr().out


def _task_dir(run_dir, *parts, finished):
    path = os.path.join(run_dir, *parts)
    os.makedirs(os.path.join(path, "output"))
    if finished:
        with open(os.path.join(path, local.EXECUTOR_OUTPUT), "w", encoding="utf-8") as f:
            json.dump({}, f)


def test_the_failed_step_is_the_task_directory_without_executor_output(tmp_path):
    """kfp.local's layout (as the runs above make it): a loop's tasks under its iterations'
    directories; the task whose executor wrote nothing stopped the run, whatever kfp.local's
    records say."""
    _task_dir(tmp_path, "extract", finished=True)
    _task_dir(tmp_path, "for-loop-1-iteration-0", "shard", finished=True)
    _task_dir(tmp_path, "for-loop-1-iteration-1", "shard", finished=False)
    events = local.TaskEvents()
    events.failures.append("extract")
    assert local.failed_step(str(tmp_path), events) == "'shard' inside 'for-loop-1-iteration-1'"


def test_without_an_unfinished_task_directory_the_failed_step_is_kfp_locals_record(tmp_path):
    _task_dir(tmp_path, "extract", finished=True)
    events = local.TaskEvents()
    assert local.failed_step(str(tmp_path), events) == "?"
    events.failures += ["split-corpus", "export-student"]
    assert local.failed_step(str(tmp_path), events) == "'split-corpus'"


def test_the_step_error_is_the_newest_file_a_step_wrote(tmp_path):
    errors = tmp_path / local.STEP_ERRORS
    assert local.step_error(str(errors)) is None
    errors.mkdir()
    assert local.step_error(str(errors)) is None
    (errors / "20.txt").write_text("an earlier step's line")
    (errors / "10.txt").write_text("no rows kept (--input_files a.txt); pass more\n")
    os.utime(errors / "20.txt", ns=(1, 1))
    assert local.step_error(str(errors)) == "no rows kept (--input_files a.txt); pass more"


def test_a_step_records_only_a_user_error_and_only_where_asked(tmp_path, monkeypatch):
    from components.common.errors import STEP_ERRORS_ENV, recording_step_error

    monkeypatch.delenv(STEP_ERRORS_ENV, raising=False)
    with pytest.raises(UserError), recording_step_error():
        raise UserError("nowhere to write")
    monkeypatch.setenv(STEP_ERRORS_ENV, str(tmp_path / "errors"))
    with pytest.raises(ValueError), recording_step_error():
        raise ValueError("a bug keeps its traceback")
    assert not (tmp_path / "errors").exists()
    with pytest.raises(UserError), recording_step_error():
        raise UserError("no rows kept", where="--input_files a.txt", fix="pass more")
    assert [p.read_text() for p in (tmp_path / "errors").iterdir()] == [
        "no rows kept (--input_files a.txt); pass more"]
