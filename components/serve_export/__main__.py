r"""Export a transformers BERT for an online service: ONNX graphs (fp32, int8), checked.

    python -m components.serve_export --model_dir student --output_dir student_onnx \
        --head mlm --quantize int8 --input_dir pretraining_data --teacher_dir hf_model

OUTPUT_DIR gets model.onnx (inputs input_ids, attention_mask, token_type_ids: int64 [batch,
sequence], both axes dynamic; outputs last_hidden_state and, for --head mlm, logits),
model.int8.onnx with --quantize int8 (ONNX Runtime's dynamic quantization), the tokenizer files
and config.json, metrics.json and manifest.json. The graphs are checked against PyTorch on the
held-out records of --input_dir (without it, on synthetic sequences): the fp32 graph within
--max_abs_diff of PyTorch's outputs, the int8 graph's top-1 predictions at the masked positions
agreeing with PyTorch's at least --min_int8_agreement of the time. Then the encoder (no MLM
head) of the teacher (--teacher_dir) and the model in PyTorch and of both graphs is timed on
this machine, one thread and every usable core, over the --latency_* grid: p50/p95/p99 ms and
sequences/s, with the speed-ups over the teacher (without one: over the model in PyTorch), in
metrics.json's latency. A graph that misses its goal, or a bad input, stops with one `error:`
line and exit code 2, and nothing is written.
"""

import logging

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.serve_export.arguments import ServeExportArguments

log = logging.getLogger("components.serve_export")


def build_parser():
    return ServeExportArguments.parser_from_doc("python -m components.serve_export", __doc__)


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = ServeExportArguments.from_namespace(build_parser().parse_args(argv))
    from components.serve_export.run import run_serve_export

    run_serve_export(args)


if __name__ == "__main__":
    main()
