"""WordPiece tokenization through Hugging Face `tokenizers` (Rust).

The tokenizer is assembled to behave like Google's `FullTokenizer`: BERT normalizer (clean text,
spaces around CJK characters, lower case and accent stripping when `do_lower_case`), BERT
pre-tokenizer (whitespace and punctuation), greedy longest-match WordPiece with `[UNK]` for words
over 100 characters. No special tokens are registered, so text that literally says "[SEP]" is
tokenized as Google's code would ("[", "sep", "]") instead of becoming a separator.
"""

import itertools

import numpy as np

from components.common.text import CharDeleter


def build_tokenizer(vocab, do_lower_case=True):
    """A `tokenizers.Tokenizer` equivalent to Google's FullTokenizer on this vocab."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    tokenizer = Tokenizer(WordPiece(vocab=dict(vocab.ids), unk_token="[UNK]",
                                    max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=do_lower_case)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer


# Google's `_is_chinese_char` ranges, which HF's BertNormalizer uses too: the normalizer puts
# spaces around these characters, so each is a word of its own whatever surrounds it.
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_TABLE_SIZE = max(end for _, end in CJK_RANGES) + 1
_NOT_SOLO, _UNRESOLVED = -1, -2


class DeletedChars:
    """Deletes from passages the characters the tokenizer deletes, so that the word segmenter
    reads exactly the characters that become tokens (`components.common.text`).

    What its normalizer deletes: format and control characters, U+FFFD, private-use characters,
    and standalone combining marks such as U+FE0F when it lower-cases; learnt by asking the
    normalizer once per distinct character, so it follows the tokenizer's own Unicode tables.
    """

    def __init__(self, tokenizer):
        self.normalizer = tokenizer.normalizer
        self.deleter = CharDeleter(())
        self.known = set()

    def __call__(self, passages):
        new = set().union(*passages) - self.known
        if new:
            self.known |= new
            self.deleter.add([c for c in new if self.normalizer.normalize_str(c) == ""])
        return [self.deleter(passage) for passage in passages]


class PassageEncoder:
    """Tokenizes batches of passages with a `tokenizers.Tokenizer`, asking it once per distinct
    input instead of once per occurrence.

    A Chinese character is always a word of its own (see CJK_RANGES), so its tokens never depend
    on its neighbours: the tokenizer's answer for it is kept in a table indexed by code point.
    What lies between Chinese characters (punctuation, digits, Latin words, spaces) is cut into
    runs, and each distinct run of a batch is tokenized once. Every id and offset still comes
    from the tokenizer; the result equals `encode_batch` on the whole passages (a property test
    checks that), at a fraction of the cost on Chinese text, where most characters repeat.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        # int32 per code point below _TABLE_SIZE: the character's one token id, _NOT_SOLO, or
        # _UNRESOLVED (a Chinese character the tokenizer has not been asked about yet).
        self._solo_ids = np.full(_TABLE_SIZE, _NOT_SOLO, dtype=np.int32)
        for first, last in CJK_RANGES:
            self._solo_ids[first:last + 1] = _UNRESOLVED

    def _solo_ids_of(self, code_points):
        """Token id per character that is a word of its own, else _NOT_SOLO (int32 [chars])."""
        inside = code_points < _TABLE_SIZE
        found = np.where(inside, self._solo_ids[np.where(inside, code_points, 0)], _NOT_SOLO)
        unresolved = np.unique(code_points[found == _UNRESOLVED])
        if len(unresolved):
            encodings = self.tokenizer.encode_batch([chr(c) for c in unresolved.tolist()],
                                                    add_special_tokens=False)
            self._solo_ids[unresolved] = [
                e.ids[0] if len(e.ids) == 1 and e.offsets[0] == (0, 1) else _NOT_SOLO
                for e in encodings]
            found = np.where(inside, self._solo_ids[np.where(inside, code_points, 0)], _NOT_SOLO)
        return found

    def _encode_runs(self, text, run_starts, run_ends):
        """Tokens of each run: (ids, starts within the run, first token, token count) arrays, the
        last two per run, indexing the first two."""
        runs = [text[s:e] for s, e in zip(run_starts.tolist(), run_ends.tolist(), strict=True)]
        distinct = {}
        run_kind = np.fromiter((distinct.setdefault(r, len(distinct)) for r in runs),
                               dtype=np.int64, count=len(runs))
        encodings = self.tokenizer.encode_batch(list(distinct), add_special_tokens=False)
        kind_counts = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64,
                                  count=len(encodings))
        total = int(kind_counts.sum())
        kind_ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in encodings),
                               dtype=np.int32, count=total)
        kind_starts = np.fromiter((o[0] for e in encodings for o in e.offsets), dtype=np.int64,
                                  count=total)
        kind_first = np.cumsum(kind_counts) - kind_counts
        return kind_ids, kind_starts, kind_first[run_kind], kind_counts[run_kind]

    def encode(self, passages):
        """Tokenize a batch of passages.

        Returns (ids int32 [total tokens], char_starts int32 [total tokens], lengths int64
        [passages]): the tokens of all passages back to back, the character offset in its
        passage where each token starts, and each passage's token count.
        """
        passage_chars = np.fromiter(map(len, passages), dtype=np.int64, count=len(passages))
        text = "".join(passages)
        if not text:
            return (np.zeros(0, np.int32), np.zeros(0, np.int32),
                    np.zeros(len(passages), np.int64))
        code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        solo_ids = self._solo_ids_of(code_points)                            # [chars]
        solo = solo_ids != _NOT_SOLO
        passage_base = np.cumsum(passage_chars) - passage_chars
        begins_passage = np.zeros(len(text) + 1, dtype=bool)
        begins_passage[passage_base] = True
        begins_passage[-1] = True
        boundary = np.ones(len(text) + 1, dtype=bool)   # before char i: a run cannot span it
        boundary[1:-1] = solo[1:] | solo[:-1] | begins_passage[1:-1]
        run_start = ~solo & boundary[:-1]
        run_starts = np.flatnonzero(run_start)
        run_ends = np.flatnonzero(~solo & boundary[1:]) + 1
        kind_ids, kind_starts, run_first, run_counts = self._encode_runs(text, run_starts,
                                                                        run_ends)

        # Units in text order: each solo character (one token) and each run (its tokens).
        unit_chars = np.flatnonzero(solo | run_start)
        unit_is_run = run_start[unit_chars]
        unit_counts = np.ones(len(unit_chars), dtype=np.int64)
        unit_counts[unit_is_run] = run_counts
        unit_out = np.cumsum(unit_counts) - unit_counts
        total = int(unit_counts.sum())
        ids = np.empty(total, dtype=np.int32)
        starts = np.empty(total, dtype=np.int64)
        solo_units = ~unit_is_run
        ids[unit_out[solo_units]] = solo_ids[unit_chars[solo_units]]
        starts[unit_out[solo_units]] = unit_chars[solo_units]
        run_of_token = np.repeat(np.arange(len(run_starts)), run_counts)
        token_in_run = np.arange(len(run_of_token)) - np.repeat(
            np.cumsum(run_counts) - run_counts, run_counts)
        source = run_first[run_of_token] + token_in_run
        target = unit_out[unit_is_run][run_of_token] + token_in_run
        ids[target] = kind_ids[source]
        starts[target] = run_starts[run_of_token] + kind_starts[source]

        passage_of_unit = np.searchsorted(passage_base, unit_chars, side="right") - 1
        lengths = np.bincount(passage_of_unit, weights=unit_counts,
                              minlength=len(passages)).astype(np.int64)
        starts -= np.repeat(passage_base, lengths)
        return ids, starts.astype(np.int32), lengths
