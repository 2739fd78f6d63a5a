"""What the distiller keeps between runs, and how it writes it safely.

- `distill_state/` (or `--checkpoint_dir`, e.g. on a persistent volume): `state-STEP.pt` files
  holding the student, the hidden-state projections, the AdamW moments and the step. Everything
  else a resumed run needs is a function of the step: the learning rate (the schedule), the data
  position (step x global batch into per-epoch permutations, see `feed`) and the dropout masks
  (the generator is reseeded from the seed, the step and the rank at every step). Each file is
  written under a temporary name, synced and renamed, so a run killed mid-save resumes from the
  previous complete one.
- `run.json` beside them: the settings a resumed run must share with the first one; and, when
  the state lies outside the output directory, a copy of the log made at every save, so a
  retried pod writing a fresh output directory keeps the curve of the steps before.
- `manifest.json` of the output is removed when a run starts and written last when it ends.
"""

import glob
import logging
import os
import re

import torch

from components.common.artifacts import atomic_file
from components.common.errors import UserError
from components.common.run_state import RunInterrupted

log = logging.getLogger(__name__)

STATE_DIR = "distill_state"
STATE_PATTERN = re.compile(r"state-(\d+)\.pt")


class TrainingState:
    """`state-STEP.pt` files in `state_dir`, the newest `keep` of them kept."""

    def __init__(self, state_dir, keep=2):
        self.state_dir, self.keep = state_dir, keep

    def steps(self):
        """The steps of the complete states, oldest first."""
        if not os.path.isdir(self.state_dir):
            return []
        names = (STATE_PATTERN.fullmatch(n) for n in os.listdir(self.state_dir))
        return sorted(int(m.group(1)) for m in names if m)

    def path(self, step):
        return os.path.join(self.state_dir, f"state-{step:08d}.pt")

    def restore_newest(self):
        """The newest readable state (a dict), or None for a fresh start."""
        steps = self.steps()
        for step in reversed(steps):
            try:
                return torch.load(self.path(step), map_location="cpu", weights_only=True)
            except (OSError, RuntimeError, EOFError, KeyError) as err:
                log.warning("distillation state %s is unreadable (%s); trying an older one",
                            self.path(step), str(err).splitlines()[0])
        if steps:
            raise UserError("no distillation state in the checkpoint directory can be read",
                            where=self.state_dir, fix="remove it to start over")
        return None

    def save(self, step, state):
        """Write `state` as `state-STEP.pt` (temporary file, fsync, rename); drop older ones."""
        for leftover in glob.glob(os.path.join(glob.escape(self.state_dir), "*.tmp-*")):
            os.remove(leftover)  # a save a killed run left half-written
        target = self.path(step)
        with atomic_file(target, "wb") as f:
            torch.save(state, f)
        for old in self.steps()[:-self.keep]:
            os.remove(self.path(old))
        return target


class DistillationInterrupted(RunInterrupted):
    """Distillation stopped on SIGTERM after saving its state; rerun the same command to
    resume."""
