"""The pretraining-data stage's parameters, declared once (see `components.common.arguments`).

Flag names and defaults are Google's `create_pretraining_data.py`, as the users call it.
"""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, Param, arg
from components.common.bad_rows import DEFAULT_MAX_BAD_FRACTION
from components.common.errors import UserError

SEGMENTERS = ("jieba", "rjieba")
# The masking parameters a pipeline run sets (the rest keep their defaults).
PIPELINE_FIELDS = ("max_seq_length", "max_predictions_per_seq", "masked_lm_prob", "random_seed",
                   "do_whole_word_mask", "dupe_factor", "short_seq_prob", "heldout_fraction",
                   "segmenter", "pack", "max_bad_fraction")
# The pipeline's fan-out: how many pods make the pretraining data.
FANOUT_SHARDS = Param("num_shards", int, 4, "corpus shards = parallel pretraining-data pods")


@dataclass
class PretrainingDataArguments(Arguments):
    input_file: list[str] = arg(REQUIRED, "a corpus directory (part-*.txt + manifest.json), or "
                                "text files / globs with one passage per line (comma-separated "
                                "lists work too)", nargs="+")
    vocab_file: str = arg(REQUIRED, "the BERT model's vocab.txt")
    output_dir: str | None = arg(None, "directory for train-*/heldout-* TFRecords and "
                                 "manifest.json; a rerun replaces it whole")
    output_file: str | None = arg(None, "the users' spelling: its directory becomes the output "
                                  "directory; a rerun replaces it whole")
    do_lower_case: bool = arg(True, "lower-case and strip accents")
    max_seq_length: int = arg(128, "tokens per instance, [CLS]/[SEP] included", low=3)
    max_predictions_per_seq: int = arg(20, "most masked positions per instance", low=1)
    masked_lm_prob: float = arg(0.15, "share of tokens to mask", low=0, high=1, low_open=True,
                                high_open=True)
    short_seq_prob: float = arg(0.1, "probability that a row gets a shorter target length",
                                low=0, high=1, high_open=True)
    dupe_factor: int = arg(5, "passes over the corpus with fresh masks", low=1)
    random_seed: int = arg(123456, "seed; shards derive theirs from it")
    do_whole_word_mask: bool = arg(True, "mask whole words (jieba words for Chinese, WordPiece "
                                   "words otherwise)")
    heldout_fraction: float = arg(0.01, "share of passages (chosen by a hash of their text) "
                                  "written as held-out data", low=0, high=1, high_open=True)
    segmenter: str = arg("jieba", "Chinese word segmenter: jieba, or rjieba (its Rust port, "
                         "faster)", choices=SEGMENTERS)
    user_dict: str | None = arg(None, "extra segmenter dictionary (jieba format: word [freq] "
                                "[tag])")
    pack: bool = arg(True, "fill rows with consecutive passages separated by [SEP], as Google's "
                     "script filled them from the users' one-document file (far less padding); "
                     "False: one passage per row")
    num_workers: int | None = arg(None, "worker processes (default: all cores)", low=1)
    shard_size_mb: float = arg(0.25, "input MiB per work unit; each unit becomes one "
                               "train-*.tfrecord file", low=0, low_open=True)
    max_bad_fraction: float = arg(DEFAULT_MAX_BAD_FRACTION, "stop when more than this share of "
                                  "the passages are bad (invalid UTF-8, no tokens, only [UNK]); "
                                  "fewer are counted in the manifest and skipped", low=0, high=1)
    shard_index: int = arg(0, "with --num_shards: process only this part of the input (a "
                           "fan-out step)", low=0)
    num_shards: int = arg(1, "split the input into this many parts (merge them with python -m "
                          "components.pretraining_data.merge)", low=1)

    def check(self):
        if self.max_predictions_per_seq > self.max_seq_length:
            raise UserError(f"--max_predictions_per_seq={self.max_predictions_per_seq} is "
                            f"larger than --max_seq_length={self.max_seq_length}",
                            where="--max_predictions_per_seq",
                            fix="use at most max_seq_length predictions (Google uses 20 for 128)")
        if self.shard_index >= self.num_shards:
            raise UserError(f"--shard_index={self.shard_index} is out of range [0, "
                            f"{self.num_shards - 1}]", where="--shard_index",
                            fix=f"pass a value in [0, {self.num_shards - 1}]")


@dataclass
class MergeArguments(Arguments):
    input_dir: list[str] = arg(REQUIRED, "the partial output directories, one per fan-out step",
                               nargs="+")
    output_dir: str = arg(REQUIRED, "the merged dataset directory; a rerun replaces it "
                          "whole")
