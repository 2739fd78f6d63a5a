"""What the trainer keeps between runs, and how it writes it safely.

- `train_state/` (or `--checkpoint_dir`, e.g. on a persistent volume): the private training
  state (model, AdamW slots, step, loss scale and the input iterator's position) as
  `tf.train.Checkpoint`s kept by a `CheckpointManager`. TensorFlow writes each one under a
  temporary name and only then records it in the `checkpoint` file, so a run killed mid-save
  resumes from the previous complete one.
- `run.json` beside it: the settings a resumed run must share with the first one; and, when it
  lies outside the output directory, a copy of the training log made at every save.
- the model in Google's format (`bert_config.json`, `vocab.txt`, `bert_model.ckpt.*`), rewritten
  at every save; `manifest.json` is removed when a run starts and written last when it ends,
  so its presence means "training finished and these files are its result".
"""

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import threading

import tensorflow as tf

from components.bert.checkpoint import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    VOCAB_NAME,
    save_google_checkpoint,
)
from components.common.artifacts import MANIFEST, copy_file_atomic, write_json_atomic
from components.common.errors import UserError
from components.train.monitor import LOG_FILE, TENSORBOARD_DIR

log = logging.getLogger(__name__)

STATE_DIR = "train_state"
RUN_FILE = "run.json"


def prepare_output_dir(output_dir, state_dir):
    """Create the output and state directories and drop a finished run's manifest (this run
    will replace it)."""
    for directory, flag in ((output_dir, "--output_dir"), (state_dir, "--checkpoint_dir")):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the directory: {err.strerror}", where=directory,
                            fix=f"choose a {flag} you can write to") from err
    manifest = os.path.join(output_dir, MANIFEST)
    if os.path.exists(manifest):
        os.remove(manifest)


def checkpoint_dir_for(checkpoint_root, output_uri):
    """The training state's directory for the task writing `output_uri`, under checkpoint_root.

    The backend names an output after the run, the task and the output (`<pipeline root>/<run
    id>/train/model`), and a retried pod of the task gets the same name, so its state is found
    again; another run, or the rerun pipeline, gets a directory of its own.
    """
    path = output_uri.split("://", 1)[-1].strip("/")
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", path)[-120:]
    digest = hashlib.sha256(output_uri.encode()).hexdigest()[:12]
    return os.path.join(checkpoint_root, f"{readable}-{digest}")


def check_run_settings(state_dir, settings):
    """Refuse to resume a training state made with other settings (see `record_run_settings`)."""
    path = os.path.join(state_dir, RUN_FILE)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        previous = json.load(f)
    changed = [k for k in settings if k in previous and previous[k] != settings[k]]
    if changed:
        details = ", ".join(f"{k}: {previous[k]!r} then, {settings[k]!r} now"
                            for k in changed[:3])
        raise UserError(f"the output directory holds a training state made with other "
                        f"settings ({details})", where=state_dir,
                        fix="use the same settings to resume, or a fresh --checkpoint_dir")


def record_run_settings(state_dir, settings):
    write_json_atomic(os.path.join(state_dir, RUN_FILE), settings)


def keep_logs(output_dir, state_dir):
    """Copy the training log and TensorBoard events beside the training state, so a run that
    resumes into a fresh output directory (a retried pod) keeps the curve of the steps before."""
    if _inside(state_dir, output_dir):
        return
    if os.path.exists(os.path.join(output_dir, LOG_FILE)):
        copy_file_atomic(os.path.join(output_dir, LOG_FILE), os.path.join(state_dir, LOG_FILE))
    events = os.path.join(output_dir, TENSORBOARD_DIR)
    if os.path.isdir(events):
        shutil.copytree(events, os.path.join(state_dir, TENSORBOARD_DIR), dirs_exist_ok=True)


def restore_logs(state_dir, output_dir):
    """Bring back what `keep_logs` saved when the output directory has no log of its own."""
    kept = os.path.join(state_dir, LOG_FILE)
    if _inside(state_dir, output_dir) or not os.path.exists(kept) or \
            os.path.exists(os.path.join(output_dir, LOG_FILE)):
        return
    copy_file_atomic(kept, os.path.join(output_dir, LOG_FILE))
    events = os.path.join(state_dir, TENSORBOARD_DIR)
    if os.path.isdir(events):
        shutil.copytree(events, os.path.join(output_dir, TENSORBOARD_DIR), dirs_exist_ok=True)
    log.info("continuing the training log kept in %s", state_dir)


def _inside(path, directory):
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    return os.path.commonpath([path, directory]) == directory


class TrainingState:
    """The resumable state and its CheckpointManager in `state_dir`."""

    def __init__(self, state_dir, max_to_keep=3, restore_dir=None, **trackables):
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.manager = tf.train.CheckpointManager(self.checkpoint, state_dir,
                                                  max_to_keep=max_to_keep)
        # A non-chief worker saves privately but resumes from the chief's states.
        self.restore_manager = self.manager if restore_dir in (None, state_dir) else \
            tf.train.CheckpointManager(self.checkpoint, restore_dir, max_to_keep=max_to_keep)

    def restore_newest(self):
        """Restore the newest readable checkpoint; return its path, or None for a fresh start."""
        for path in reversed(self.restore_manager.checkpoints):
            try:
                self.checkpoint.read(path).assert_existing_objects_matched()
            except (tf.errors.OpError, ValueError, AssertionError) as err:
                log.warning("training state %s is unreadable (%s); trying an older one",
                            path, str(err).splitlines()[0])
                continue
            return path
        if self.restore_manager.checkpoints:
            raise UserError("no training state in the output directory can be read",
                            where=self.restore_manager.directory,
                            fix="remove the train_state directory to start over")
        return None

    def save(self, step):
        return self.manager.save(checkpoint_number=step)


def write_model_files(output_dir, config, vocab_file):
    """bert_config.json and vocab.txt beside the checkpoint (each written atomically)."""
    config.to_json_file(os.path.join(output_dir, CONFIG_NAME))
    target = os.path.join(output_dir, VOCAB_NAME)
    if os.path.abspath(vocab_file) != os.path.abspath(target):
        copy_file_atomic(vocab_file, target)


def export_model(model, output_dir, step):
    """The model in Google's format under Google's names, with `global_step`."""
    return save_google_checkpoint(model, os.path.join(output_dir, CHECKPOINT_NAME),
                                  global_step=step)


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
        log.warning("SIGTERM received: saving the training state after this step")
        self.event.set()

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    @property
    def requested(self):
        return self.event.is_set()


class TrainingInterrupted(Exception):
    """Training stopped on SIGTERM after saving its state; rerun the same command to resume."""
