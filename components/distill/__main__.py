"""Distil a transformers BERT (the convert stage's output) into a small, fast student.

    python -m components.distill --teacher_dir hf_model --input_dir pretraining_data \
        --output_dir student --student_num_hidden_layers 4 --temperature 8 \
        --num_train_steps 10000 --train_batch_size 32 --learning_rate 1e-4

Rerunning the same command resumes from the newest state in --checkpoint_dir (default:
OUTPUT_DIR/distill_state). Several GPUs: --num_processes N (or start it with torchrun).
"""

import logging
import sys

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.distill.arguments import DistillArguments

log = logging.getLogger("components.distill")

# Kubernetes' convention for "terminated by SIGTERM": the pod restarts and the run resumes.
EXIT_INTERRUPTED = 143


def build_parser():
    return DistillArguments.parser("python -m components.distill", __doc__.split("\n")[0])


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = DistillArguments.from_namespace(build_parser().parse_args(argv))
    from components.distill.loop import distill
    from components.distill.state import DistillationInterrupted

    try:
        summary = distill(args)
    except DistillationInterrupted as stopped:
        log.warning("%s", stopped)
        sys.exit(EXIT_INTERRUPTED)
    if "global_step" in summary:
        log.info("done: step %d of %d, final loss %s", summary["global_step"],
                 summary["num_train_steps"], summary.get("final_loss"))


if __name__ == "__main__":
    main()
