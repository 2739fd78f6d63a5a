r"""Fine-tune BERT models on a labelled task with one recipe and the same seeds; compare them.

    python -m components.downstream --model_dir base --model_dir adapted --model_dir student \
        --train_file train.jsonl --eval_file eval.jsonl --text_column text \
        --label_column label --output_dir downstream --num_train_epochs 3 \
        --learning_rate 2e-5 --train_batch_size 32 --max_seq_length 128 --seeds 1,2,3

Files are JSONL (.jsonl), CSV (.csv) or TSV (.tsv, no quoting), by extension, with a header (or
JSON keys) naming the columns. Without --eval_file, --eval_fraction of --train_file is held out
by a hash of the text. Each model directory is a transformers BERT (the convert or distill
stage's output): its MLM head is dropped, a classifier head is drawn from each seed. OUTPUT_DIR
gets metrics.json (accuracy and macro-F1 per model and seed, mean ± std, the majority-class
baseline, each model minus the first with a 95 % interval over seeds), predictions.jsonl and
manifest.json. A bad input (missing column, one class, evaluation labels training lacks, empty
text, a model that is not BERT) stops with one `error:` line and exit code 2.
"""

import logging

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.downstream.arguments import DownstreamArguments

log = logging.getLogger("components.downstream")


def build_parser():
    return DownstreamArguments.parser_from_doc("python -m components.downstream", __doc__)


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = DownstreamArguments.from_namespace(build_parser().parse_args(argv))
    from components.downstream.run import run_downstream

    run_downstream(args)


if __name__ == "__main__":
    main()
