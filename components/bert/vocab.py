"""vocab.txt in Google's layout, read one way for every stage (no TensorFlow needed).

One token per line, id = line number, each line stripped of surrounding whitespace, as Google's
`tokenization.load_vocab` reads it (lines split on "\\n" only, so a stray "\\r" cannot shift the
ids); the special tokens must be there. `sha256` is of the file's bytes: the pretraining data
records it, and training, evaluation and conversion compare it with the model's.
"""

import dataclasses
import functools
import hashlib

from components.common.errors import UserError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclasses.dataclass
class Vocab:
    tokens: list  # token of each id
    ids: dict     # token → its first id
    sha256: str

    @property
    def size(self):
        return len(self.tokens)

    def id_of(self, token):
        return self.ids[token]

    @functools.cached_property
    def is_subword(self):
        """bool [size]: the entry starts with "##" (a WordPiece continuation)."""
        import numpy as np

        return np.fromiter((t.startswith("##") for t in self.tokens), dtype=bool,
                           count=len(self.tokens))


def _read(path, flag):
    """(tokens, sha256) of a vocab file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, IsADirectoryError, TypeError) as err:
        raise UserError("vocab file not found", where=f"{flag} {path}",
                        fix="pass the vocab.txt that ships with the BERT model") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"vocab file is not UTF-8 (byte offset {err.start})",
                        where=f"{flag} {path}",
                        fix="pass the vocab.txt that ships with the BERT model") from err
    tokens = [line.strip() for line in text.split("\n")]
    if tokens and tokens[-1] == "":
        tokens.pop()
    return tokens, hashlib.sha256(raw).hexdigest()


def load_vocab(path, flag="--vocab_file"):
    """The vocab at `path`; a UserError naming `flag` when it is missing, not UTF-8, or lacks a
    special token."""
    tokens, sha256 = _read(path, flag)
    ids = {}
    for index, token in enumerate(tokens):
        ids.setdefault(token, index)
    missing = [t for t in SPECIAL_TOKENS if t not in ids]
    if missing:
        raise UserError(f"vocab has no {', '.join(missing)} token", where=f"{flag} {path}",
                        fix="use a BERT vocab.txt in Google's layout ([PAD], [UNK], [CLS], "
                            "[SEP], [MASK] entries)")
    return Vocab(tokens, ids, sha256)


def count_vocab(vocab_file, flag="--vocab_file"):
    """Number of entries (lines) in a vocab.txt."""
    return len(_read(vocab_file, flag)[0])


def vocab_sha256(vocab_file, flag="--vocab_file"):
    return _read(vocab_file, flag)[1]


def check_vocab_matches_config(vocab_file, vocab_size, config_file="bert_config.json"):
    """Raise a UserError naming both files when the vocab has another size than the config's
    `vocab_size`."""
    entries = count_vocab(vocab_file)
    if entries != vocab_size:
        raise UserError(f"vocab has {entries} entries but the config says vocab_size "
                        f"{vocab_size}", where=f"{vocab_file} vs {config_file}",
                        fix="use the vocab.txt and bert_config.json of the same model")
    return entries
