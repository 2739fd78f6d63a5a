"""Continue masked-LM pretraining of a Google-format BERT on pretraining-data TFRecords.

    python -m components.train --input_dir DATA_DIR --output_dir MODEL_DIR \
        --bert_config_file chinese_L-12_H-768_A-12/bert_config.json \
        --init_checkpoint chinese_L-12_H-768_A-12/bert_model.ckpt \
        --train_batch_size 96 --num_train_steps 210000 --num_warmup_steps 1000 \
        --learning_rate 2e-5

Rerunning the same command resumes from the newest training state in --checkpoint_dir
(default: OUTPUT_DIR/train_state).
"""

import logging
import sys

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.train.arguments import TrainArguments

log = logging.getLogger("components.train")

# Kubernetes' convention for "terminated by SIGTERM": the pod restarts and the run resumes.
EXIT_INTERRUPTED = 143


def build_parser():
    return TrainArguments.parser("python -m components.train", __doc__.split("\n")[0])


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = TrainArguments.from_namespace(build_parser().parse_args(argv))
    from components.train.loop import train
    from components.train.state import TrainingInterrupted

    try:
        summary = train(args)
    except TrainingInterrupted as stopped:
        log.warning("%s", stopped)
        sys.exit(EXIT_INTERRUPTED)
    if "global_step" in summary:
        log.info("done: step %d of %d, final loss %s", summary["global_step"],
                 summary["num_train_steps"], summary.get("final_loss"))


if __name__ == "__main__":
    main()
