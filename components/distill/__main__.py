"""Distil a transformers BERT (the convert stage's output) into a small, fast student.

    python -m components.distill --teacher_dir hf_model --input_dir pretraining_data \
        --output_dir student --student_num_hidden_layers 4 --temperature 1 \
        --num_train_steps 10000 --train_batch_size 32 --learning_rate 1e-4

Rerunning the same command resumes from the newest state in --checkpoint_dir (default:
OUTPUT_DIR/distill_state). Several GPUs: --num_processes N (or start it with torchrun).
"""

import logging

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.common.run_state import run_resumable
from components.distill.arguments import DistillArguments

log = logging.getLogger("components.distill")


def build_parser():
    return DistillArguments.parser("python -m components.distill", __doc__.split("\n")[0])


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = DistillArguments.from_namespace(build_parser().parse_args(argv))
    from components.distill.loop import distill

    run_resumable(distill, args, log)


if __name__ == "__main__":
    main()
