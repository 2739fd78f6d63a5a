"""The distiller's parameters, declared once (see `components.common.arguments`).

`DistillArguments`: the distillation stage (`python -m components.distill`), in the flag style
of the trainer and HF's run_mlm.py. `CompareArguments`: the student-vs-teacher evaluation
(`python -m components.distill.evaluate`). No torch here, so the pipeline can read the
declarations without it.
"""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg, same_as
from components.common.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16")
KD_POSITIONS = ("masked", "all")
# What a pipeline run sets. The first six share their names with the trainer's run parameters
# (`components.train.arguments.PIPELINE_FIELDS`): the pipeline prefixes them (distill_...).
PIPELINE_FIELDS = ("num_train_steps", "num_warmup_steps", "train_batch_size", "learning_rate",
                   "save_checkpoints_steps", "log_every_n_steps", "student_num_hidden_layers",
                   "student_hidden_size", "student_num_attention_heads",
                   "student_intermediate_size", "temperature", "kd_weight", "hard_weight",
                   "hidden_weight", "attention_weight", "gradient_accumulation_steps",
                   "max_eval_examples")


@dataclass
class DistillArguments(Arguments):
    teacher_dir: str = arg(REQUIRED, "the teacher: a transformers BertForMaskedLM directory "
                           "(the convert stage's output), with its vocab.txt", group="inputs")
    input_dir: str = arg(REQUIRED, "pretraining-data directory: distils on train-*.tfrecord, "
                         "evaluates on heldout-*.tfrecord", group="inputs")
    output_dir: str = arg(REQUIRED, "the student: a save_pretrained directory (config.json, "
                          "model.safetensors, tokenizer files) with distill_log.jsonl, "
                          "tensorboard/, metrics.json; by default it also holds the training "
                          "state, so a rerun resumes", group="inputs")
    checkpoint_dir: str | None = arg(
        None, "where the resumable state (student, projections, AdamW moments, step) lives; a "
        "rerun with the same --checkpoint_dir resumes, even into a fresh --output_dir (a "
        "retried pod: put it on a persistent volume); a state made with other settings is "
        "refused (it holds the steps done): pass a fresh --checkpoint_dir; default: "
        "OUTPUT_DIR/distill_state",
        group="inputs")
    pytorch_dump_path: str | None = arg(None, "also write the legacy pytorch_model.bin (the "
                                        "student's BertForMaskedLM state dict) to this file; a "
                                        "rerun replaces it",
                                        group="inputs")

    student_num_hidden_layers: int = arg(
        4, "student layers; 4 keeps a third of BERT-base's 12 (RBT4 of HFL's RBT3/RBT4/RBT6, "
        "a middle ground between DistilBERT's 6 and MiniRBT's 3/4) at about 3x the speed",
        low=1, group="student")
    student_hidden_size: int | None = arg(
        None, "student hidden size; the teacher's (default) initialises the student from the "
        "teacher's layers, a smaller one starts from random weights with learned projections "
        "for the hidden-state loss (TinyBERT)", low=1, group="student")
    student_num_attention_heads: int | None = arg(None, "student attention heads; default: "
                                                  "the teacher's", low=1, group="student")
    student_intermediate_size: int | None = arg(None, "student feed-forward size; default: "
                                                "the teacher's", low=1, group="student")
    teacher_layers: list[int] | None = arg(
        None, "0-based teacher layer copied into each student layer (and matched by the "
        "hidden-state loss), e.g. --teacher_layers 2 5 8 11; default: evenly spaced, ending at "
        "the last layer", nargs="+", metavar="LAYER", group="student")
    student_dropout: float | None = arg(None, "dropout of the student (hidden and attention); "
                                        "default: the teacher's", low=0, high=1, high_open=True,
                                        group="student")

    temperature: float = arg(1.0, "softmax temperature of the soft targets (the KL term is "
                             "scaled by T^2); 1 as TinyBERT's prediction-layer loss: in "
                             "bench/distill.py students learned more at T=1 than at MiniRBT's 8",
                             low=0, low_open=True, group="loss")
    kd_weight: float = arg(1.0, "weight of the KL divergence to the teacher's distribution at "
                           "the masked positions", low=0, group="loss")
    kd_positions: str = arg(
        "masked", "where the KL divergence to the teacher is taken: masked (the masked positions "
        "only, as TinyBERT/MiniRBT) or all (every real token, as DistilBERT; the vocabulary "
        "projection of both models then runs at every token: [batch, seq, vocab] logits, 346 MB "
        "per float32 tensor at 32 x 128 tokens with Google's 21,128-token Chinese vocab: the "
        "step's peak memory grew by 0.95 GB on a CPU, a few such tensors more on a GPU, fine "
        "there); agreement and accuracy stay on the masked positions",
        choices=KD_POSITIONS, group="loss")
    hard_weight: float = arg(0.0, "weight of the masked-LM cross-entropy on the true tokens; "
                             "0: pure distillation (MiniRBT/TinyBERT; DistilBERT uses 1)", low=0,
                             group="loss")
    hidden_weight: float = arg(1.0, "weight of the hidden-state MSE over the layer map "
                               "(embeddings and each student layer vs its teacher layer), as "
                               "MiniRBT/TextBrewer's hidden_mse", low=0, group="loss")
    attention_weight: float = arg(0.0, "weight of the attention-distribution loss of the last "
                                  "layer (TinyBERT/MiniLM); 0: off (it needs the slower eager "
                                  "attention)", low=0, group="loss")

    num_train_steps: int = arg(10000, "total optimizer steps (the learning rate decays "
                               "linearly to 0 there)", low=1, group="training")
    num_warmup_steps: int = arg(1000, "steps of linear learning-rate warmup (a tenth of the "
                                "default steps)", low=0,
                                group="training")
    train_batch_size: int = arg(32, "examples per optimizer step per process (global batch = "
                                "this x processes)", low=1, group="training")
    gradient_accumulation_steps: int = arg(
        1, "split each process's batch into this many micro-batches (less memory, the same "
        "step); must divide --train_batch_size", low=1, group="training")
    learning_rate: float = arg(1e-4, "peak learning rate of AdamW (1e-4 as TinyBERT's general "
                               "distillation; the student starts from teacher layers)", low=0,
                               low_open=True, group="training")
    weight_decay: float = arg(0.01, "AdamW weight decay (not on biases and LayerNorm), as "
                              "BERT", low=0, group="training")
    max_grad_norm: float = arg(1.0, "clip the gradients' global norm to this", low=0,
                               low_open=True, group="training")
    random_seed: int = arg(12345, "seed of the data order, dropout and a random student",
                           group="training")
    save_checkpoints_steps: int = arg(1000, "save the training state every this many steps "
                                      "(a killed run loses at most this many)", low=1,
                                      group="training")
    keep_checkpoint_max: int = arg(2, "training states kept in --checkpoint_dir", low=1,
                                   group="training")
    log_every_n_steps: int = arg(100, "write the loss parts and throughput every this many "
                                 "steps", low=1, group="training")
    stop_at_step: int | None = arg(None, "end this run after saving at this step (to fit a "
                                   "time slot); rerun the same command to continue", low=1,
                                   group="training")

    precision: str = arg("auto", "compute precision of the forward passes (weights and "
                         "optimizer stay float32); auto: bf16 autocast on GPUs that have it, "
                         "fp32 on CPU", choices=PRECISIONS, group="devices")
    torch_compile: bool | None = arg(None, "compile the student and teacher with "
                                     "torch.compile (default: on with a GPU, off on CPU)",
                                     group="devices")
    cuda_graphs: bool | None = arg(
        None, "replay the compiled steps as CUDA graphs (torch.compile mode reduce-overhead), "
        "so that the CPU no longer launches each kernel of a step; default: on when the steps "
        "are compiled on one GPU process without --gradient_accumulation_steps (with several "
        "processes, when asked for, untested on GPUs)", group="devices")
    num_processes: int | None = arg(
        None, "data-parallel processes (DDP), started by this command: one per GPU (nccl), "
        "or CPU processes (gloo) without GPUs; under torchrun its processes are used instead; "
        "default: every visible GPU, else 1", low=1, group="devices")
    peak_tflops: float | None = arg(None, "peak TFLOP/s of one device, for MFU (default: the "
                                    "data-sheet figure of the detected GPU; none on CPU)",
                                    low=0, low_open=True, group="devices")

    do_eval: bool = arg(True, "after training, compare student and teacher on the held-out "
                        "split (accuracy, agreement, speed) into metrics.json",
                        group="evaluation")
    eval_batch_size: int = arg(32, "examples per evaluation batch", low=1, group="evaluation")
    max_eval_examples: int | None = arg(None, "evaluate on at most this many held-out "
                                        "records; default: all", low=1, group="evaluation")

    def check(self):
        if self.num_warmup_steps > self.num_train_steps:
            raise UserError(f"--num_warmup_steps={self.num_warmup_steps} is more than "
                            f"--num_train_steps={self.num_train_steps}",
                            where="--num_warmup_steps", fix="warm up for a small part of the "
                            "run (e.g. a tenth)")
        if self.train_batch_size % self.gradient_accumulation_steps:
            raise UserError(f"--gradient_accumulation_steps={self.gradient_accumulation_steps} "
                            f"does not divide --train_batch_size={self.train_batch_size}",
                            where="--gradient_accumulation_steps",
                            fix="pass a divisor of --train_batch_size")
        if self.cuda_graphs and self.gradient_accumulation_steps > 1:
            raise UserError("--cuda_graphs True with --gradient_accumulation_steps="
                            f"{self.gradient_accumulation_steps}: a graph's replay overwrites "
                            "the gradients the previous micro-batch left to be summed",
                            where="--cuda_graphs", fix="leave --cuda_graphs out (it is off "
                            "with accumulation) or accumulate no gradients")


@dataclass
class CompareArguments(Arguments):
    teacher_dir: str = arg(REQUIRED, "the reference model: a transformers BertForMaskedLM "
                           "directory with its vocab.txt (the convert stage's output)")
    student_dir: str = arg(REQUIRED, "the model compared with it (the distill stage's output, "
                           "or any other BertForMaskedLM directory with the same vocab)")
    input_dir: str = arg(REQUIRED, "pretraining-data directory: both models are scored on its "
                         "heldout-*.tfrecord")
    output_file: str | None = arg(None, "write the metrics to this JSON file; a rerun "
                                  "replaces it, atomically")
    eval_batch_size: int = same_as(DistillArguments, "eval_batch_size")
    max_eval_examples: int | None = same_as(DistillArguments, "max_eval_examples")
    speed_batch_size: int = arg(32, "sequences per batch of the throughput measurement", low=1)
    speed_seq_length: int = arg(128, "tokens per sequence of the speed measurements (at most "
                                "the models' max_position_embeddings)", low=2)
    speed_repeats: int = arg(5, "timed forward passes per measurement (after one warm-up); 0: "
                             "skip the speed measurements", low=0)
