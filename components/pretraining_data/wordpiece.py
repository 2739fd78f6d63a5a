"""Google's BERT vocabulary and WordPiece tokenization through Hugging Face `tokenizers` (Rust).

The tokenizer is assembled to behave like Google's `FullTokenizer`: BERT normalizer (clean text,
spaces around CJK characters, lower case and accent stripping when `do_lower_case`), BERT
pre-tokenizer (whitespace and punctuation), greedy longest-match WordPiece with `[UNK]` for words
over 100 characters. No special tokens are registered, so text that literally says "[SEP]" is
tokenized as Google's code would ("[", "sep", "]") instead of becoming a separator.
"""

import dataclasses
import hashlib
import itertools
import os

import numpy as np

from components.common.errors import UserError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclasses.dataclass
class Vocab:
    tokens: list
    ids: dict
    sha256: str
    is_subword: np.ndarray  # bool [vocab_size]: the entry starts with "##"

    @property
    def size(self):
        return len(self.tokens)

    def id_of(self, token):
        return self.ids[token]


def load_vocab(path):
    """Read a vocab.txt in Google's layout (one token per line, id = line number)."""
    if not path or not os.path.isfile(path):
        raise UserError("vocab file not found", where=f"--vocab_file {path}",
                        fix="pass the vocab.txt that ships with the BERT model")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"vocab file is not UTF-8 (byte offset {err.start})",
                        where=f"--vocab_file {path}",
                        fix="pass the vocab.txt that ships with the BERT model") from err
    tokens = [line.strip() for line in text.split("\n")]
    if tokens and tokens[-1] == "":
        tokens.pop()
    ids = {}
    for index, token in enumerate(tokens):
        ids.setdefault(token, index)
    missing = [t for t in SPECIAL_TOKENS if t not in ids]
    if missing:
        raise UserError(f"vocab has no {', '.join(missing)} token", where=f"--vocab_file {path}",
                        fix="use a BERT vocab.txt in Google's layout ([PAD], [UNK], [CLS], "
                            "[SEP], [MASK] entries)")
    is_subword = np.fromiter((t.startswith("##") for t in tokens), dtype=bool, count=len(tokens))
    return Vocab(tokens, ids, hashlib.sha256(raw).hexdigest(), is_subword)


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


def encode_passages(tokenizer, passages):
    """Tokenize a batch of passages.

    Returns (ids int32 [total tokens], char_starts int32 [total tokens], lengths int64
    [passages]): the tokens of all passages back to back, the character offset in its passage
    where each token starts, and each passage's token count.
    """
    encodings = tokenizer.encode_batch(passages, add_special_tokens=False)
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    total = int(lengths.sum())
    ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in encodings),
                      dtype=np.int32, count=total)
    starts = np.fromiter((o[0] for e in encodings for o in e.offsets), dtype=np.int32,
                         count=total)
    return ids, starts, lengths
