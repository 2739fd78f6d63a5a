"""The trainer's parameters, declared once (see `components.common.arguments`).

Flag names are the users' own (Google's `run_pretraining.py`); no TensorFlow here, so the
pipeline can read the declaration without it.
"""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg, same_as
from components.common.errors import UserError
from components.evaluate.arguments import EvaluateArguments

PRECISIONS = ("auto", "fp32", "mixed_float16", "mixed_bfloat16")
# What a pipeline run sets (its run parameters); the sequence lengths come from the data.
PIPELINE_FIELDS = ("train_batch_size", "num_train_steps", "num_warmup_steps", "learning_rate",
                   "save_checkpoints_steps", "log_every_n_steps")


@dataclass
class TrainArguments(Arguments):
    input_dir: str = arg(REQUIRED, "pretraining-data directory (train-*.tfrecord + "
                         "manifest.json), or a directory of TFRecords in Google's schema")
    output_dir: str = arg(REQUIRED, "trained model directory (Google format: config, vocab, "
                          "weights) with the training log; by default it also holds the "
                          "training state, so a rerun resumes")
    checkpoint_dir: str | None = arg(
        None, "where the resumable training state (weights, AdamW slots, step, input "
        "position) lives; a rerun with the same --checkpoint_dir resumes, even into a fresh "
        "--output_dir (a retried pod: put it on a persistent volume); a state made with other "
        "settings is refused (it holds the steps done): pass a fresh --checkpoint_dir; "
        "default: OUTPUT_DIR/train_state")
    bert_config_file: str | None = arg(None, "bert_config.json; default: the one beside "
                                       "--init_checkpoint")
    init_checkpoint: str = arg("", "checkpoint prefix (.../bert_model.ckpt) or model directory "
                               "to start from; empty: random initialisation")
    vocab_file: str | None = arg(None, "vocab.txt copied into the output; default: the one "
                                 "beside --init_checkpoint (or --bert_config_file)")
    train_batch_size: int = arg(96, "examples per step per replica (global batch = this x "
                                "replicas)", low=1)
    max_seq_length: int = arg(128, "sequence length; must equal the TFRecords'", low=1)
    max_predictions_per_seq: int = arg(20, "masked positions per sequence; must equal the "
                                       "TFRecords'", low=1)
    num_train_steps: int = arg(210000, "total optimizer steps (the learning rate decays "
                               "linearly to 0 there)", low=1)
    num_warmup_steps: int = arg(1000, "steps of linear learning-rate warmup", low=0)
    learning_rate: float = arg(2e-5, "peak learning rate of AdamW", low=0, low_open=True)
    save_checkpoints_steps: int = arg(1000, "save the training state and the model every this "
                                      "many steps", low=1)
    log_every_n_steps: int = arg(100, "write loss, accuracy and throughput every this many "
                                 "steps", low=1)
    do_train: bool = arg(True, "train")
    do_eval: bool = arg(False, "evaluate on the held-out split (heldout-*.tfrecord) afterwards")
    eval_batch_size: int = same_as(EvaluateArguments, "eval_batch_size")
    max_eval_steps: int | None = same_as(EvaluateArguments, "max_eval_steps")
    random_seed: int = arg(12345, "seed of the input order, dropout and a random "
                           "initialisation")
    precision: str = arg("auto", "compute precision (variables and checkpoints stay float32); "
                         "auto: bfloat16 on Ampere+ GPUs, float16 with loss scaling on older "
                         "ones, fp32 on CPU", choices=PRECISIONS)
    jit_compile: bool | None = arg(None, "compile the train step with XLA (default: on with a "
                                   "GPU)")
    num_gpus: int | None = arg(None, "train on this many GPUs (MirroredStrategy when more than "
                               "one); refuse to start when fewer are visible; default: every "
                               "visible GPU, or the CPU", low=1)
    num_cpu_replicas: int = arg(1, "without GPUs: replicas over this many logical CPU devices "
                                "(to try the several-replica path on a CPU machine)", low=1)
    peak_tflops: float | None = arg(None, "peak TFLOP/s of all replicas together, for MFU "
                                    "(default: one GPU's data-sheet peak x replicas)",
                                    low=0, low_open=True)
    stop_at_step: int | None = arg(None, "end this run after saving at this step (to fit a "
                                   "time slot); rerun the same command to continue", low=1)
    shuffle_buffer_size: int = arg(1000, "records in the input shuffle buffer", low=1)
    keep_checkpoint_max: int = arg(3, "training states kept in --checkpoint_dir", low=1)

    def check(self):
        if self.num_warmup_steps > self.num_train_steps:
            raise UserError(f"--num_warmup_steps={self.num_warmup_steps} is more than "
                            f"--num_train_steps={self.num_train_steps}",
                            where="--num_warmup_steps", fix="warm up for a small part of the "
                            "run (Google: 10k of 1M steps)")
