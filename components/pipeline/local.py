"""Run the pipeline (or one stage of it) on this machine with `kfp.local`, then summarise it.

`kfp.local.SubprocessRunner(use_venv=False)` runs every component in a subprocess of this Python
environment; outputs land in `<pipeline_root>/<pipeline>-<timestamp>/<task>/<output>` (a loop's
tasks in `…/for-loop-N-iteration-I/<task>/`). With caching on, a task whose inputs did not change
is not run again: its outputs stay where the earlier run left them. Each run leaves `run.json` in
its run directory (parameters and the URI and metadata of every artifact, cached ones included),
which `pipeline.py rerun --from` reads, and `run.log`, everything kfp.local printed.

What a run did is read from what kfp.local keeps, not from its console: the pipeline's outputs
from the task it returns; which tasks ran, when and how they ended from its own log records
(`TaskEvents`); which task stopped a failed run from the task directories (`task_outcomes`); the
error line of the step that stopped from the file it wrote (`step_error`).
"""

import builtins
import contextlib
import datetime
import json
import logging
import os
import re
import shutil
import sys
import threading
import warnings

from components.common.artifacts import write_json_atomic
from components.common.errors import UserError
from components.pipeline import definition

RUN_RECORD = "run.json"
RUN_LOG = "run.log"
# Under the pipeline root: the file a failed step wrote its one error line in.
STEP_ERRORS = ".step_errors"
# What the KFP executor writes last, after the step returned (kfp/dsl/executor.py:454), into the
# task's directory (kfp/local/executor_input_utils.py:26): a task directory without it stopped.
EXECUTOR_OUTPUT = "executor_output.json"
# A loop iteration's directory: kfp.local runs its tasks under `<run>/<loop>-iteration-<i>/`
# (kfp/local/orchestrator/task_spec_utils.py:266).
ITERATION = re.compile(r".+-iteration-\d+")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# kfp.local tells of a task's start and end only in these records on the root logger, and names
# the task only in their text (kfp/local/task_dispatcher.py:199, 216 and 233;
# kfp/local/importer_handler.py:103 and 175).
TASK_RECORD = re.compile(r"Executing task '(?P<started>[^']+)'"
                         r"|Task '(?P<ended>[^']+)' finished with status (?P<status>\w+)")


class TaskEvents(logging.Filter):
    """Notes each task's start and end from kfp.local's log records; `tasks`: task name ->
    {"runs": n, "start": t, "end": t, "status": "SUCCESS" | "FAILURE"} (the status of its last
    run), `failures`: the names of the tasks that failed, in order. A filter on the root
    logger sees every record before a handler does, whichever handler kfp.local has put there
    (it swaps them per task, from each task's thread). `console`: where a line per finished
    step goes (None: nowhere)."""

    def __init__(self, console=None):
        super().__init__()
        from kfp import local

        self.kfp_local_dir = os.path.dirname(os.path.abspath(local.__file__)) + os.sep
        self.console = console
        self.tasks = {}
        self.failures = []
        self._lock = threading.Lock()

    def filter(self, record):
        if record.pathname.startswith(self.kfp_local_dir):
            told = TASK_RECORD.fullmatch(ANSI.sub("", record.getMessage()))
            if told:
                self._note(told, record)
        return True  # only looks: every record goes on

    def _note(self, told, record):
        with self._lock:
            if told["started"]:
                entry = self.tasks.setdefault(told["started"], {"runs": 0,
                                                                "start": record.created})
                entry["runs"] += 1
                return
            entry = self.tasks.setdefault(told["ended"], {"runs": 1, "start": record.created})
            entry["end"], entry["status"] = record.created, told["status"]
            if told["status"] == "FAILURE":
                self.failures.append(told["ended"])
            if self.console and record.module != "importer_handler":  # an import is no step
                self.console.write(f"  {told['ended']:28} {told['status'].lower():8} "
                                   f"{entry['end'] - entry['start']:6.1f} s\n")
                self.console.flush()


class RunLog:
    """Stands in for sys.stdout during a run: kfp.local writes its notes (a handler on
    sys.stdout, kfp/local/logging_utils.py:67) and every step's output (print,
    kfp/local/subprocess_task_handler.py:131) only there. Each line goes to the log file
    without colour codes, and to the console too when `verbose`."""

    def __init__(self, console, log_path, verbose=False):
        self.console = console
        self.log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.verbose = verbose
        self.pending = ""
        self._lock = threading.Lock()  # a loop's tasks print from threads of their own

    def write(self, text):
        with self._lock:
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
            for line in lines:
                self.log.write(ANSI.sub("", line) + "\n")
                if self.verbose:
                    self.console.write(line + "\n")
        return len(text)

    def flush(self):
        self.console.flush()
        self.log.flush()

    def close(self):
        if self.pending:
            self.write("\n")
        self.log.close()

    def isatty(self):
        return False


class QuietNotes(logging.Filter):
    """Leaves out the root logger's notes below WARNING."""

    def filter(self, record):
        return record.name != "root" or record.levelno >= logging.WARNING


def _init_local(pipeline_root, enable_caching):
    from kfp import local

    # Expected locally: images, resources and Kubernetes settings only apply on a cluster.
    warnings.filterwarnings("ignore", message=".*non-Python base image.*")
    warnings.filterwarnings("ignore", message=".*no effect in the current local runner.*")
    warnings.filterwarnings("ignore", message=".*kubernetes.*", category=UserWarning)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root,
               enable_caching=enable_caching, raise_on_error=True)


@contextlib.contextmanager
def _observed(run_log, events, verbose):
    """While kfp.local runs: its output into `run_log`, its task records into `events`, and
    (unless `verbose`) the root logger's notes off the console."""
    root = logging.getLogger()
    original_stdout, original_print = sys.stdout, builtins.print
    # kfp.local's own notes (workspace clean-up, skipped conditions) log on the root logger.
    notes, quieted = QuietNotes(), [] if verbose else root.handlers[:]
    for handler in quieted:
        handler.addFilter(notes)
    root.addFilter(events)
    # kfp.local raises the root logger to INFO around each task and puts back the level it found
    # (kfp/local/logging_utils.py:53-79); a loop's tasks do that from two threads, and one that
    # puts back WARNING while the other runs would lose that one's end record.
    original_level = root.level
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    sys.stdout = run_log
    try:
        yield
    finally:
        # kfp.local indents print() around each task by patching builtins.print
        # (kfp/local/logging_utils.py:96-100); two tasks of a loop racing can leave it patched.
        sys.stdout, builtins.print = original_stdout, original_print
        root.setLevel(original_level)
        root.removeFilter(events)
        for handler in quieted:
            handler.removeFilter(notes)
        run_log.close()


def execute(pipeline_func, arguments, pipeline_root, enable_caching=True, verbose=False):
    """Run `pipeline_func` locally; return (outputs {name: artifact}, task events (`.tasks`),
    run directory). The whole log goes to the run directory's run.log; the console shows all
    of it if `verbose`, else one line per finished step."""
    pipeline_root = os.path.abspath(pipeline_root)
    os.makedirs(pipeline_root, exist_ok=True)
    _init_local(pipeline_root, enable_caching)
    name = pipeline_func.name
    before = set(os.listdir(pipeline_root))
    log_path = os.path.join(pipeline_root, f".{name}-{os.getpid()}.log")
    events = TaskEvents(console=None if verbose else sys.stdout)
    errors_dir = step_errors_dir(pipeline_root)
    shutil.rmtree(errors_dir, ignore_errors=True)  # an earlier run's
    try:
        with _observed(RunLog(sys.stdout, log_path, verbose), events, verbose):
            outputs = pipeline_func(**arguments).outputs
    except RuntimeError as err:  # kfp.local's answer to a task that failed
        run_dir = _keep_log(log_path, _run_dir(pipeline_root, name, before))
        raise _step_failure(name, run_dir, events, errors_dir) from err
    return outputs, events, _keep_log(log_path, _run_dir(pipeline_root, name, before))


def _step_failure(pipeline_name, run_dir, events, errors_dir):
    """The UserError for a run that a failed step stopped: that step's own one line (as its
    CLI would print it) where it stopped on a UserError, and where its log is."""
    step = failed_step(run_dir, events)
    message = step_error(errors_dir)
    if message:
        return UserError(f"step {step} stopped: {message}", where=run_dir,
                         fix="fix that, then rerun the step with `python pipeline.py rerun "
                         "STEP --from RUN_DIR` (its whole log is in run.log)")
    return UserError(f"pipeline {pipeline_name!r} failed in step {step} (its log is in run.log; "
                     "--verbose also shows it)", where=run_dir,
                     fix="fix the cause, then rerun that step with `python pipeline.py rerun "
                     "STEP --from RUN_DIR`")


def task_outcomes(run_dir):
    """[(task, the loop iterations it ran in, innermost first, finished)] for every task
    directory kfp.local made under `run_dir`; finished: its executor output is there."""
    outcomes = []

    def visit(directory, iterations):
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if not entry.is_dir():
                continue
            if ITERATION.fullmatch(entry.name):
                visit(entry.path, (entry.name, *iterations))
            else:
                finished = os.path.isfile(os.path.join(entry.path, EXECUTOR_OUTPUT))
                outcomes.append((entry.name, iterations, finished))

    visit(run_dir, ())
    return outcomes


def failed_step(run_dir, events):
    """The step that stopped the run, as kfp.local names it (`'task' inside 'loop-iteration'`):
    a task directory without its executor output; else (a step without artifact outputs makes
    its directory only when it is done) the first task kfp.local logged as failed; else '?'."""
    for task, iterations, finished in task_outcomes(run_dir):
        if not finished:
            return " inside ".join(repr(n) for n in (task, *iterations))
    return repr(events.failures[0]) if events.failures else "?"


def step_errors_dir(pipeline_root):
    """Where the steps of a local run under `pipeline_root` write the UserError they stopped on
    (`definition.Settings.step_errors_dir`, `errors.recording_step_error`)."""
    return os.path.join(os.path.abspath(pipeline_root), STEP_ERRORS)


def step_error(errors_dir):
    """The one line of the UserError the run's failed step stopped on (the newest file a step
    wrote in `errors_dir`), or None (it stopped on another exception).

    Steps write it to a file because kfp.local keeps a step's output nowhere else: it pipes the
    step's stdout and stderr together and print()s them line by line
    (kfp/local/subprocess_task_handler.py:116-131; the DockerRunner the container's log,
    kfp/local/docker_task_handler.py:146-149)."""
    if not os.path.isdir(errors_dir):
        return None
    written = sorted((entry.stat().st_mtime_ns, entry.path) for entry in os.scandir(errors_dir))
    if not written:
        return None
    with open(written[-1][1], encoding="utf-8") as f:
        return f.read().strip() or None


def _run_dir(pipeline_root, name, before):
    """The directory kfp.local made for this run (`<name>-<timestamp>`,
    kfp/local/executor_input_utils.py:112); one named alike where it made none (every task a
    cache hit, or the first step failed before it wrote anything)."""
    pattern = re.compile(re.escape(name) + r"-\d{4}-\d\d-\d\d-")
    new = sorted(d for d in set(os.listdir(pipeline_root)) - before if pattern.match(d))
    if new:
        return os.path.join(pipeline_root, new[-1])
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S-%f")
    run_dir = os.path.join(pipeline_root, f"{name}-{stamp}")
    os.makedirs(run_dir)
    return run_dir


def _keep_log(log_path, run_dir):
    """Move the run's log into its run directory; return the directory."""
    if os.path.exists(log_path):
        os.replace(log_path, os.path.join(run_dir, RUN_LOG))
    return run_dir


def artifact_record(outputs, inherited=None):
    """{name: {"uri", "metadata"}} of the run's artifacts (earlier runs' ones for a rerun)."""
    record = dict(inherited or {})
    for name, artifact in outputs.items():
        record[name] = {"uri": artifact.uri, "metadata": dict(artifact.metadata)}
    return record


def write_run_record(run_dir, pipeline_name, parameters, artifacts, steps):
    write_json_atomic(os.path.join(run_dir, RUN_RECORD), {
        "pipeline": pipeline_name, "parameters": parameters, "artifacts": artifacts,
        "steps": steps})


def read_run_record(run_dir):
    """(parameters, artifacts) of an earlier local run; without a run.json (a run that failed),
    the artifacts found as `<task>/<output>` under it (see definition.ARTIFACTS)."""
    path = os.path.join(run_dir, RUN_RECORD)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        return record["parameters"], record["artifacts"]
    from kfp.dsl import Metrics

    from components.common.kfp_outputs import read_metrics_file

    artifacts = {}
    for name, (artifact_type, source) in definition.ARTIFACTS.items():
        if source and os.path.exists(os.path.join(run_dir, *source)):
            uri = os.path.join(run_dir, *source)
            metadata = read_metrics_file(uri) if artifact_type is Metrics else {}
            artifacts[name] = {"uri": uri, "metadata": metadata}
    return {}, artifacts
