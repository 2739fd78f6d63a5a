"""What the trainer and the distiller share about a resumable run (neither TensorFlow nor torch).

A run keeps its private state in a state directory (`--checkpoint_dir`: a persistent volume on a
cluster, by default inside the output directory) and writes its result to the output directory,
whose `manifest.json` is removed when a run starts and written last when it ends. Beside the
state: `run.json` (the settings a resumed run must share with the first one) and, when the state
lies outside the output directory, a copy of the run's log and TensorBoard events made at every
save, so a retried pod writing a fresh output directory keeps the curve of the steps before.
"""

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading

from components.common.artifacts import MANIFEST, copy_file_atomic, write_json_atomic
from components.common.errors import UserError

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
TENSORBOARD_DIR = "tensorboard"
# The claim mounted as the state's volume, set on the pipeline's train and distill tasks.
CLAIM_ENV = "EDU_MLM_CHECKPOINT_PVC"
VOLUME_SETUP = ("python pipeline.py checkpoint-volume --job-only --checkpoint-pvc {claim} "
                "| kubectl -n NAMESPACE apply -f -")


def prepare_output_dir(output_dir, state_dir):
    """Create the output and state directories and drop a finished run's manifest (this run
    will replace it)."""
    for directory, flag in ((output_dir, "--output_dir"), (state_dir, "--checkpoint_dir")):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the directory: {err.strerror}", where=directory,
                            fix=f"choose a {flag} you can write to") from err
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(output_dir, MANIFEST))


def check_state_dir_writable(state_dir):
    """Refuse, in one line and before any work, a state directory this process cannot create
    or write in, saying how to fix it: a fresh PersistentVolume's root is root:root 0755, the
    images run as uid 10001, and the KFP drivers of 2.4/2.5 set no fsGroup that would hand the
    volume to it, so a one-time Job does (`python pipeline.py checkpoint-volume`)."""
    location = os.path.abspath(state_dir)
    while not os.path.exists(location):
        location = os.path.dirname(location)
    try:
        handle, probe = tempfile.mkstemp(dir=location, prefix=".edu-mlm-write-test-")
        os.close(handle)
        os.remove(probe)
    except OSError as err:
        owner = os.stat(location)
        claim = os.environ.get(CLAIM_ENV)
        setup = VOLUME_SETUP.format(claim=claim or "CLAIM")
        fix = (f"make the volume writable once: {setup}" if claim else
               f"pass a --checkpoint_dir you can write to; on Kubernetes make its volume "
               f"writable once: {setup}")
        raise UserError(f"cannot write the resumable state: {location} (owner uid "
                        f"{owner.st_uid}, mode {owner.st_mode & 0o7777:04o}) is not writable by "
                        f"uid {os.getuid()}: {err.strerror}", where=f"--checkpoint_dir "
                        f"{state_dir}", fix=fix + " (README: On a cluster)") from err


def checkpoint_dir_for(checkpoint_root, output_uri):
    """The state's directory for the task writing `output_uri`, under checkpoint_root.

    The backend names an output after the run, the task and the output (`<pipeline root>/<run
    id>/train/model`), and a retried pod of the task gets the same name, so its state is found
    again; another run, or the rerun pipeline, gets a directory of its own.
    """
    path = output_uri.split("://", 1)[-1].strip("/")
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", path)[-120:]
    digest = hashlib.sha256(output_uri.encode()).hexdigest()[:12]
    return os.path.join(checkpoint_root, f"{readable}-{digest}")


def check_run_settings(state_dir, settings):
    """Refuse to resume a state made with other settings (see `record_run_settings`)."""
    path = os.path.join(state_dir, RUN_FILE)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        previous = json.load(f)
    changed = [k for k in settings if k in previous and previous[k] != settings[k]]
    if changed:
        details = ", ".join(f"{k}: {previous[k]!r} then, {settings[k]!r} now"
                            for k in changed[:3])
        raise UserError(f"the checkpoint directory holds a state made with other settings "
                        f"({details})", where=state_dir,
                        fix="use the same settings to resume, or a fresh --checkpoint_dir")


def record_run_settings(state_dir, settings):
    write_json_atomic(os.path.join(state_dir, RUN_FILE), settings)


def _inside(path, directory):
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    return os.path.commonpath([path, directory]) == directory


def keep_logs(output_dir, state_dir, log_file):
    """Copy the log `log_file` and the TensorBoard events beside the state when it lies
    outside the output directory."""
    if _inside(state_dir, output_dir):
        return
    if os.path.exists(os.path.join(output_dir, log_file)):
        copy_file_atomic(os.path.join(output_dir, log_file), os.path.join(state_dir, log_file))
    events = os.path.join(output_dir, TENSORBOARD_DIR)
    if os.path.isdir(events):
        shutil.copytree(events, os.path.join(state_dir, TENSORBOARD_DIR), dirs_exist_ok=True)


def restore_logs(state_dir, output_dir, log_file):
    """Bring back what `keep_logs` saved when the output directory has no log of its own."""
    kept = os.path.join(state_dir, log_file)
    if _inside(state_dir, output_dir) or not os.path.exists(kept) or \
            os.path.exists(os.path.join(output_dir, log_file)):
        return
    copy_file_atomic(kept, os.path.join(output_dir, log_file))
    events = os.path.join(state_dir, TENSORBOARD_DIR)
    if os.path.isdir(events):
        shutil.copytree(events, os.path.join(output_dir, TENSORBOARD_DIR), dirs_exist_ok=True)
    log.info("continuing the log kept in %s", state_dir)


def start_run(output_dir, state_dir, log_file, settings):
    """Once every input is checked, the first change to the directories: create them, drop a
    finished run's manifest, bring back the log `log_file` that `keep_logs` kept and record the
    run's settings beside the state."""
    prepare_output_dir(output_dir, state_dir)
    restore_logs(state_dir, output_dir, log_file)
    record_run_settings(state_dir, settings)


class StopRequest:
    """Turns SIGTERM (what Kubernetes sends before killing a pod) into a flag the loop checks."""

    def __init__(self):
        self.event = threading.Event()
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        log.warning("SIGTERM received: saving the state after this step")
        self.event.set()

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    @property
    def requested(self):
        return self.event.is_set()


# Kubernetes' convention for "terminated by SIGTERM": the pod restarts and the run resumes.
EXIT_INTERRUPTED = 143


class RunInterrupted(Exception):
    """The run stopped on SIGTERM after saving its state; rerun the same command to resume."""


def run_resumable(run, args, stage_log):
    """`run(args)` for a stage's command line, logging on `stage_log` how far it got; a run
    stopped by SIGTERM (`RunInterrupted`) exits with EXIT_INTERRUPTED."""
    if args.checkpoint_dir:
        check_state_dir_writable(args.checkpoint_dir)
    try:
        summary = run(args)
    except RunInterrupted as stopped:
        stage_log.warning("%s", stopped)
        sys.exit(EXIT_INTERRUPTED)
    if "global_step" in summary:
        stage_log.info("done: step %d of %d, final loss %s", summary["global_step"],
                       summary["num_train_steps"], summary.get("final_loss"))
