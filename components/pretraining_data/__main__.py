"""CLI: python -m components.pretraining_data --input_file CORPUS --output_dir DIR --vocab_file V.

Takes the flag names of Google's create_pretraining_data.py, as the users call it.
"""

from components.common.cli import ArgumentParser, str2bool
from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging


def build_parser():
    parser = ArgumentParser(prog="python -m components.pretraining_data", description=__doc__)
    add = parser.add_argument
    add("--input_file", nargs="+", required=True,
        help="a corpus directory (part-*.txt + manifest.json), or text files / globs with one "
             "passage per line (comma-separated lists work too)")
    add("--output_dir", help="directory for train-*/heldout-* TFRecords and manifest.json")
    add("--output_file", help="the users' spelling: its directory becomes the output directory")
    add("--vocab_file", required=True, help="the BERT model's vocab.txt")
    add("--do_lower_case", type=str2bool, default=True, help="lower-case and strip accents")
    add("--max_seq_length", type=int, default=128, help="tokens per instance, [CLS]/[SEP] included")
    add("--max_predictions_per_seq", type=int, default=20,
        help="most masked positions per instance")
    add("--masked_lm_prob", type=float, default=0.15, help="share of tokens to mask")
    add("--short_seq_prob", type=float, default=0.1,
        help="probability that a row gets a shorter target length")
    add("--dupe_factor", type=int, default=5, help="passes over the corpus with fresh masks")
    add("--random_seed", type=int, default=123456, help="seed; shards derive theirs from it")
    add("--do_whole_word_mask", type=str2bool, default=True,
        help="mask whole words (jieba words for Chinese, WordPiece words otherwise)")
    add("--heldout_fraction", type=float, default=0.01,
        help="share of passages (chosen by a hash of their text) written as held-out data")
    add("--segmenter", default="jieba", choices=["jieba", "rjieba"],
        help="Chinese word segmenter: jieba, or rjieba (its Rust port, faster)")
    add("--user_dict", help="extra segmenter dictionary (jieba format: word [freq] [tag])")
    add("--pack", type=str2bool, nargs="?", const=True, default=False,
        help="fill rows with consecutive passages separated by [SEP] (less padding)")
    add("--num_workers", type=int, default=None, help="worker processes (default: all cores)")
    add("--shard_size_mb", type=float, default=0.25,
        help="input MiB per work unit; each unit becomes one train-*.tfrecord file")
    add("--max_bad_fraction", type=float, default=0.01,
        help="stop when more than this share of the passages are bad (invalid UTF-8, no "
             "tokens, only [UNK]); fewer are counted in the manifest and skipped")
    add("--shard_index", type=int, default=0,
        help="with --num_shards: process only this part of the input (a fan-out step)")
    add("--num_shards", type=int, default=1,
        help="split the input into this many parts (merge them with "
             "python -m components.pretraining_data.merge)")
    return parser


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = build_parser().parse_args(argv)
    from components.pretraining_data import create_pretraining_data

    create_pretraining_data(**vars(args))


if __name__ == "__main__":
    main()
