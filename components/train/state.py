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

import logging
import os

import tensorflow as tf

from components.bert.checkpoint import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    VOCAB_NAME,
    save_google_checkpoint,
)
from components.common.artifacts import copy_file_atomic
from components.common.errors import UserError
from components.common.run_state import RunInterrupted

log = logging.getLogger(__name__)

STATE_DIR = "train_state"


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


class TrainingInterrupted(RunInterrupted):
    """Training stopped on SIGTERM after saving its state; rerun the same command to resume."""
