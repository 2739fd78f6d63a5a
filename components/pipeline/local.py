"""Run the pipeline (or one stage of it) on this machine with `kfp.local`, then summarise it.

`kfp.local.SubprocessRunner(use_venv=False)` runs every component in a subprocess of this Python
environment; outputs land in `<pipeline_root>/<pipeline>-<timestamp>/<task>/<output>`. With
caching on, a task whose inputs did not change is not run again: its outputs stay where the
earlier run left them. Each run leaves `run.json` in its run directory (parameters and the URI
and metadata of every artifact, cached ones included), which `pipeline.py rerun --from` reads.
"""

import builtins
import datetime
import json
import logging
import os
import re
import sys
import time
import warnings

from components.common.artifacts import write_json_atomic
from components.common.errors import UserError
from components.pipeline import definition

RUN_RECORD = "run.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TASK_START = re.compile(r"Executing task '([^']+)'")
TASK_END = re.compile(r"Task '([^']+)' finished with status (\w+)")


# A step's traceback: kept out of the quiet console (it is in run.log); its last line, when the
# step stopped on a UserError, becomes the run's one error line.
TRACEBACK = re.compile(r"^(\s*)Traceback \(most recent call last\):")
CHAINED = re.compile(r"^\s*(The above exception was|During handling of the above exception)")
EXCEPTION = re.compile(r"^\s*(?:[\w.]+\.)?(\w+)(?:: (.*))?$")


class TaskClock:
    """Tees stdout to a log file (without colour codes) and notes when kfp.local starts and
    finishes each task (it reports both only as log lines); the console gets every line, or
    (quiet) one line per finished step. `user_errors` collects the messages of the UserErrors
    that stopped steps."""

    def __init__(self, stream, log_path, quiet=True):
        self.stream = stream
        self.log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.quiet = quiet
        self.pending = ""
        self.tasks = {}  # task name -> {"runs": n, "start": t, "end": t, "status": s}
        self.user_errors = []
        self._traceback_indent = None

    def write(self, text):
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        now = time.monotonic()
        for line in lines:
            plain = ANSI.sub("", line)
            self.log.write(plain + "\n")
            self._note_traceback(plain)
            if not self.quiet:
                self.stream.write(line + "\n")
            if started := TASK_START.search(plain):
                entry = self.tasks.setdefault(started[1], {"runs": 0, "start": now})
                entry["runs"] += 1
            elif ended := TASK_END.search(plain):
                entry = self.tasks.setdefault(ended[1], {"runs": 1, "start": now})
                entry["end"], entry["status"] = now, ended[2]
                if self.quiet and not ended[1].startswith("importer"):
                    self.stream.write(f"  {ended[1]:28} {ended[2].lower():8} "
                                      f"{now - entry['start']:6.1f} s\n")
                    self.stream.flush()
        return len(text)

    def _note_traceback(self, plain):
        """Follow the tracebacks in the log and record the UserError that ends one (the step's
        one line for the console)."""
        if started := TRACEBACK.match(plain):
            self._traceback_indent = len(started[1])
            return
        if self._traceback_indent is None or CHAINED.match(plain) or not plain.strip():
            return
        indent = len(plain) - len(plain.lstrip())
        if indent == self._traceback_indent:  # the exception, at the traceback's own indent
            self._traceback_indent = None
            error = EXCEPTION.match(plain)
            if error and error[1] == "UserError" and error[2]:
                self.user_errors.append(error[2])

    def flush(self):
        self.stream.flush()
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


def execute(pipeline_func, arguments, pipeline_root, enable_caching=True, verbose=False):
    """Run `pipeline_func` locally; return (outputs {name: artifact}, task clock, run directory).
    The whole log goes to the run directory's run.log; the console shows all of it if
    `verbose`, else one line per finished step."""
    pipeline_root = os.path.abspath(pipeline_root)
    os.makedirs(pipeline_root, exist_ok=True)
    _init_local(pipeline_root, enable_caching)
    name = pipeline_func.name
    before = set(os.listdir(pipeline_root))
    log_path = os.path.join(pipeline_root, f".{name}-{os.getpid()}.log")
    clock = TaskClock(sys.stdout, log_path, quiet=not verbose)
    sys.stdout, original_print = clock, builtins.print
    # kfp.local's own notes (workspace clean-up, skipped conditions) log on the root logger.
    notes = QuietNotes()
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(notes)
    try:
        outputs = pipeline_func(**arguments).outputs
    except RuntimeError as err:
        failed = re.findall(r"Inner task failed: (.*)\.", ANSI.sub("", str(err)))
        run_dir = _keep_log(log_path, _new_run_dir(pipeline_root, name, before))
        step = failed[0] if failed else "?"
        if clock.user_errors:  # the step's own one line, as its CLI would print it
            raise UserError(f"step {step} stopped: {clock.user_errors[-1]}", where=run_dir,
                            fix="fix that, then rerun the step with `python pipeline.py rerun "
                            "STEP --from RUN_DIR` (its whole log is in run.log)") from err
        raise UserError(f"pipeline {name!r} failed in step {step} (its log is in run.log; "
                        "--verbose also shows it)", where=run_dir,
                        fix="fix the cause, then rerun that step with `python pipeline.py rerun "
                        "STEP --from RUN_DIR`") from err
    finally:
        # kfp.local indents print() around each task by patching builtins.print; two tasks of a
        # ParallelFor racing can leave it patched.
        sys.stdout, builtins.print = clock.stream, original_print
        for handler in logging.getLogger().handlers:
            handler.removeFilter(notes)
        clock.close()
    run_dir = _new_run_dir(pipeline_root, name, before)
    if run_dir is None:  # every task was a cache hit: kfp.local made no directory
        stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S-%f")
        run_dir = os.path.join(pipeline_root, f"{name}-{stamp}")
        os.makedirs(run_dir)
    return outputs, clock, _keep_log(log_path, run_dir)


def _keep_log(log_path, run_dir):
    """Move the run's log into its run directory (when kfp.local made one); return the dir."""
    if run_dir and os.path.exists(log_path):
        os.replace(log_path, os.path.join(run_dir, "run.log"))
    return run_dir


def _new_run_dir(pipeline_root, name, before):
    pattern = re.compile(re.escape(name) + r"-\d{4}-\d\d-\d\d-")
    new = sorted(d for d in set(os.listdir(pipeline_root)) - before if pattern.match(d))
    return os.path.join(pipeline_root, new[-1]) if new else None


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
