"""Chinese word segmentation (jieba, or its Rust port rjieba) and whole-word grouping of tokens.

Whole-word masking needs to know which WordPiece tokens belong to one word. A token continues
the group of the token before it when it starts inside the same segmenter word (the characters
of a Chinese word after the first) or when it is a WordPiece continuation (`##…`). This is the
`##` trick of Chinese whole-word masking, kept as a boolean per token: the token ids themselves
are never changed, so labels are always the original ids and no out-of-vocab `##` form of a
character can appear.
"""

import itertools
import logging
import os

import numpy as np

from components.common.errors import UserError
from components.pretraining_data.arguments import SEGMENTERS

log = logging.getLogger(__name__)


def _read_user_dict(path):
    if not os.path.isfile(path):
        raise UserError("user dictionary not found", where=f"--user_dict {path}",
                        fix="pass a jieba dictionary file (one 'word [freq] [tag]' per line)")
    entries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if parts:
                freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
                tag = parts[2] if len(parts) > 2 else None
                entries.append((parts[0], freq, tag))
    return entries


class Segmenter:
    """Cuts passages into words; `word_lengths` covers every character of every passage."""

    def __init__(self, name="jieba", user_dict=None):
        if name not in SEGMENTERS:
            raise UserError(f"unknown segmenter {name!r}", where="--segmenter",
                            fix=f"choose one of {', '.join(SEGMENTERS)}")
        self.name = name
        if name == "jieba":
            import jieba

            jieba.setLogLevel(logging.WARNING)
            self._engine = jieba.Tokenizer()
            self._engine.initialize()
            self._cut = self._engine.lcut
        else:
            import rjieba

            # Importing rjieba already builds a default Jieba (~0.1 s); a user dictionary needs
            # one of its own, so that adding words changes nothing else in the process.
            if user_dict:
                self._engine = rjieba.Jieba()
                self._cut = self._engine.cut
            else:
                self._engine, self._cut = None, rjieba.cut
        if user_dict:
            entries = _read_user_dict(user_dict)
            for word, freq, tag in entries:
                self._engine.add_word(word, freq, tag)
            log.info("loaded %d user dictionary words from %s", len(entries), user_dict)

    def cut(self, passage):
        return self._cut(passage)

    def word_lengths(self, passages):
        """Character lengths of the words of all passages, back to back (int64)."""
        if self.name == "jieba":
            lengths = self._jieba_word_lengths(passages)
        else:
            lengths = np.fromiter(
                map(len, itertools.chain.from_iterable(map(self._cut, passages))), dtype=np.int64)
        if int(lengths.sum()) != sum(map(len, passages)):
            raise RuntimeError(f"{self.name} returned words that do not cover the passages")
        return lengths

    def _jieba_word_lengths(self, passages):
        """Exactly `jieba.lcut`'s words, faster.

        jieba cuts each run of its `re_han_default` pattern on its own (`__cut_DAG`, with HMM
        for unknown words), so a run's words do not depend on the text around it: runs that
        repeat within the batch (education text repeats its phrases) are cut once, and runs go
        straight to the run cutter. Text between runs is cut into single characters (whitespace
        included: passages hold no "\r\n", the one two-character piece jieba keeps).
        The unit tests check the result against `jieba.lcut`.
        """
        import jieba

        split = jieba.re_han_default.split
        cut_run = getattr(self._engine, "_Tokenizer__cut_DAG", self._cut)
        cache = {}
        lengths = []
        for passage in passages:
            for index, run in enumerate(split(passage)):
                if not run:
                    continue
                if index % 2 == 0:
                    lengths += [1] * len(run)
                    continue
                words = cache.get(run)
                if words is None:
                    words = cache[run] = [len(w) for w in cut_run(run)]
                lengths += words
        return np.asarray(lengths, dtype=np.int64)


def continuation_flags(token_ids, token_char_starts, token_counts, passage_chars, word_lengths,
                       is_subword):
    """Bool per token: True when the token joins the whole-word group of the token before it.

    token_char_starts are offsets within each token's passage; passage_chars the passages'
    character counts; word_lengths the segmenter's words of all passages back to back.
    """
    passage_base = np.cumsum(passage_chars) - passage_chars
    global_starts = token_char_starts + np.repeat(passage_base, token_counts)
    word_starts = np.cumsum(word_lengths) - word_lengths
    word_of_token = np.searchsorted(word_starts, global_starts, side="right") - 1
    same_word = np.zeros(len(token_ids), dtype=bool)
    same_word[1:] = word_of_token[1:] == word_of_token[:-1]
    return same_word | is_subword[token_ids]
