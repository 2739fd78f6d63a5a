"""The report CLI's parameters, declared once (see `components.common.arguments`)."""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg

# What a pipeline run sets (its run parameters).
PIPELINE_FIELDS = ("fill_mask_examples",)


@dataclass
class DataReportArguments(Arguments):
    corpus_dir: str = arg(REQUIRED, "corpus directory (extract's output)")
    pretraining_data_dir: str = arg(REQUIRED, "pretraining-data directory (train/held-out "
                                    "TFRecords + manifest)")
    output_file: str = arg(REQUIRED, "HTML file to write; a rerun replaces it")


@dataclass
class ModelReportArguments(Arguments):
    pretraining_data_dir: str = arg(REQUIRED, "pretraining-data directory (its held-out records "
                                    "feed fill-mask)")
    trained_model_dir: str = arg(REQUIRED, "the trainer's output (Google format + "
                                 "train_log.jsonl)")
    base_hf_model_dir: str = arg(REQUIRED, "the base model converted to transformers (with "
                                 "parity.json)")
    hf_model_dir: str = arg(REQUIRED, "the trained model converted to transformers (with "
                            "parity.json)")
    base_eval: str = arg(REQUIRED, "held-out metrics JSON of the base")
    trained_eval: str = arg(REQUIRED, "held-out metrics JSON of the trained model")
    output_file: str = arg(REQUIRED, "HTML file to write; a rerun replaces it")
    markdown_file: str = arg(REQUIRED, "Markdown summary to write; a rerun "
                                "replaces it")
    fill_mask_examples: int = arg(8, "held-out sentences shown with top-5 predictions", low=0)
    student_dir: str | None = arg(None, "the distill stage's output (a student distilled from "
                                  "--hf_model_dir, with its metrics.json): adds a 'Distilled "
                                  "student' section")
    downstream_dir: str | None = arg(None, "the downstream step's output (the base, "
                                     "--hf_model_dir and the student fine-tuned on a labelled "
                                     "task): adds a 'Downstream task' section")
    serve_export_dir: str | None = arg(None, "the serve_export stage's output (the student, or "
                                       "--hf_model_dir when none was distilled, as ONNX graphs "
                                       "checked and timed): adds a 'Serving' section")
