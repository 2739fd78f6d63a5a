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

from components.common.cli import ArgumentParser, str2bool
from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging

log = logging.getLogger("components.train")

# Kubernetes' convention for "terminated by SIGTERM": the pod restarts and the run resumes.
EXIT_INTERRUPTED = 143


def build_parser():
    p = ArgumentParser(prog="python -m components.train", description=__doc__.split("\n")[0])
    p.add_argument("--input_dir", required=True,
                   help="pretraining-data directory (train-*.tfrecord + manifest.json), or a "
                   "directory of TFRecords in Google's schema")
    p.add_argument("--output_dir", required=True,
                   help="trained model directory (Google format: config, vocab, weights) with "
                   "the training log; by default it also holds the training state")
    p.add_argument("--checkpoint_dir", default=None,
                   help="where the resumable training state (weights, AdamW slots, step, input "
                   "position) lives; a rerun with the same --checkpoint_dir resumes, even into a "
                   "fresh --output_dir (a retried pod: put it on a persistent volume); default: "
                   "OUTPUT_DIR/train_state")
    p.add_argument("--bert_config_file", default=None,
                   help="bert_config.json; default: the one beside --init_checkpoint")
    p.add_argument("--init_checkpoint", default="",
                   help="checkpoint prefix (.../bert_model.ckpt) or model directory to start "
                   "from; empty: random initialisation")
    p.add_argument("--vocab_file", default=None,
                   help="vocab.txt copied into the output; default: the one beside "
                   "--init_checkpoint (or --bert_config_file)")
    p.add_argument("--train_batch_size", type=int, default=96,
                   help="examples per step per replica (global batch = this x replicas)")
    p.add_argument("--max_seq_length", type=int, default=128,
                   help="sequence length; must equal the TFRecords'")
    p.add_argument("--max_predictions_per_seq", type=int, default=20,
                   help="masked positions per sequence; must equal the TFRecords'")
    p.add_argument("--num_train_steps", type=int, default=210000,
                   help="total optimizer steps (the learning rate decays linearly to 0 there)")
    p.add_argument("--num_warmup_steps", type=int, default=1000,
                   help="steps of linear learning-rate warmup")
    p.add_argument("--learning_rate", type=float, default=2e-5,
                   help="peak learning rate of AdamW")
    p.add_argument("--save_checkpoints_steps", type=int, default=1000,
                   help="save the training state and the model every this many steps")
    p.add_argument("--log_every_n_steps", type=int, default=100,
                   help="write loss, accuracy and throughput every this many steps")
    p.add_argument("--do_train", type=str2bool, default=True, help="train")
    p.add_argument("--do_eval", type=str2bool, default=False,
                   help="evaluate on the held-out split (heldout-*.tfrecord) afterwards")
    p.add_argument("--eval_batch_size", type=int, default=64, help="examples per eval batch")
    p.add_argument("--max_eval_steps", type=int, default=None,
                   help="evaluate at most this many batches (default: all)")
    p.add_argument("--random_seed", type=int, default=12345,
                   help="seed of the input order, dropout and a random initialisation")
    p.add_argument("--precision", default="auto",
                   choices=["auto", "fp32", "mixed_float16", "mixed_bfloat16"],
                   help="compute precision (variables and checkpoints stay float32); auto: "
                   "bfloat16 on Ampere+ GPUs, float16 with loss scaling on older ones, fp32 on CPU")
    p.add_argument("--jit_compile", type=str2bool, default=None,
                   help="compile the train step with XLA (default: on with a GPU)")
    p.add_argument("--num_gpus", type=int, default=None,
                   help="train on this many GPUs (MirroredStrategy when more than one); refuse "
                   "to start when fewer are visible; default: every visible GPU, or the CPU")
    p.add_argument("--num_cpu_replicas", type=int, default=1,
                   help="without GPUs: replicas over this many logical CPU devices (to try "
                   "the several-replica path on a CPU machine)")
    p.add_argument("--peak_tflops", type=float, default=None,
                   help="peak TFLOP/s of all replicas together, for MFU (default: one GPU's "
                   "data-sheet peak x replicas)")
    p.add_argument("--stop_at_step", type=int, default=None,
                   help="end this run after saving at this step (to fit a time slot); rerun "
                   "the same command to continue")
    p.add_argument("--shuffle_buffer_size", type=int, default=1000,
                   help="records in the input shuffle buffer")
    p.add_argument("--keep_checkpoint_max", type=int, default=3,
                   help="training states kept in --checkpoint_dir")
    return p


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = vars(build_parser().parse_args(argv))
    from components.train.loop import train
    from components.train.state import TrainingInterrupted

    try:
        summary = train(**args)
    except TrainingInterrupted as stopped:
        log.warning("%s", stopped)
        sys.exit(EXIT_INTERRUPTED)
    if "global_step" in summary:
        log.info("done: step %d of %d, final loss %s", summary["global_step"],
                 summary["num_train_steps"], summary.get("final_loss"))


if __name__ == "__main__":
    main()
