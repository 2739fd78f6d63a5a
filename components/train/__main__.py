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

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.common.run_state import run_resumable
from components.train.arguments import TrainArguments

log = logging.getLogger("components.train")


def build_parser():
    return TrainArguments.parser("python -m components.train", __doc__.split("\n")[0])


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = TrainArguments.from_namespace(build_parser().parse_args(argv))
    from components.train.loop import train

    run_resumable(train, args, log)


if __name__ == "__main__":
    main()
