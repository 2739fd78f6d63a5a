"""The evaluator's parameters, declared once (see `components.common.arguments`)."""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg

# What a pipeline run sets (its run parameters).
PIPELINE_FIELDS = ("eval_batch_size",)


@dataclass
class EvaluateArguments(Arguments):
    input_dir: str = arg(REQUIRED, "pretraining-data directory (its heldout-*.tfrecord), or a "
                         "directory or glob of TFRecords in Google's schema")
    init_checkpoint: str = arg(REQUIRED, "model directory or checkpoint prefix "
                               "(.../bert_model.ckpt)")
    bert_config_file: str | None = arg(None, "bert_config.json; default: the one beside the "
                                       "checkpoint")
    eval_batch_size: int = arg(64, "examples per evaluation batch (the last one may be "
                               "smaller)", low=1)
    max_eval_steps: int | None = arg(None, "evaluate at most this many batches (default: all)",
                                     low=1)
    output_file: str | None = arg(None, "write the metrics here as JSON (they are also "
                                  "printed); a rerun replaces it, atomically")
