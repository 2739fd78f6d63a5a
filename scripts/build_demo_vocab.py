"""Build the demo vocabulary and tiny BERT config in data/sample from the sample corpus.

vocab.txt follows the layout of Google's Chinese BERT vocab: `[PAD]`, `[unused1]`…`[unused99]`,
`[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`, `<S>`, `<T>`, then single characters (ASCII first, then the
corpus's characters by frequency), a few English wordpieces, then the `##` form of every
character. The `##` forms matter: whole-word masking groups a word's later characters through
them, and WordPiece needs `##` digits and letters to split "2024" or "co2" the way Google's vocab
does. Characters are taken from the corpus after the extract stage's cleaning and after BERT's own
normalisation (lower case, accents stripped), so the demo vocab covers what the tokenizer will see.

bert_config.json is a tiny model in Google's format (hidden 64, 2 layers) sized to this vocab.

    .venv/bin/python scripts/build_demo_vocab.py [--corpus FILE] [--output_dir DIR]
"""

import argparse
import collections
import json
import os
import string
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from components.extract.cleaning import Cleaner  # noqa: E402

SPECIAL = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + [
    "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"]
# Common English wordpieces, so English words in the corpus split like they do with Google's vocab.
ENGLISH_PIECES = [
    "the", "and", "to", "of", "in", "is", "it", "on", "for", "with", "that", "as", "be", "at",
    "unit", "reading", "tip", "read", "word", "key", "first", "then", "such", "what", "more",
    "##s", "##ed", "##ing", "##er", "##ly", "##tion", "##ment", "##al", "##es", "##en", "##th",
    "10", "20", "30", "100", "2020", "2021", "2022", "2023", "2024", "##0", "##00",
]
CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 64,
    "initializer_range": 0.02,
    "intermediate_size": 128,
    "max_position_embeddings": 128,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "type_vocab_size": 2,
}


def bert_normalize(text):
    """What Google's BasicTokenizer (do_lower_case=True) does to characters before lookup."""
    text = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def corpus_characters(corpus_path):
    cleaner = Cleaner(min_chars=1)
    counts = collections.Counter()
    with open(corpus_path, encoding="utf-8") as f:
        for line in f:
            passage = cleaner.clean(line)
            if passage:
                counts.update(ch for ch in bert_normalize(passage) if not ch.isspace())
    return counts


def build_vocab(counts):
    ascii_chars = [ch for ch in string.printable if not ch.isspace()]
    ascii_chars = [ch for ch in ascii_chars if not ch.isupper()]
    chars = list(ascii_chars)
    chars += sorted((ch for ch in counts if ch not in set(ascii_chars)),
                    key=lambda ch: (-counts[ch], ch))
    pieces = [p for p in ENGLISH_PIECES if p not in chars]
    continuations = [f"##{ch}" for ch in chars if f"##{ch}" not in pieces]
    return SPECIAL + chars + pieces + continuations


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/sample/corpus.txt", help="sample corpus")
    parser.add_argument("--output_dir", default="data/sample",
                        help="where vocab.txt and bert_config.json go")
    args = parser.parse_args()
    vocab = build_vocab(corpus_characters(args.corpus))
    assert len(vocab) == len(set(vocab)), "duplicate vocab entries"
    with open(os.path.join(args.output_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    config = dict(CONFIG, vocab_size=len(vocab))
    with open(os.path.join(args.output_dir, "bert_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(vocab)} vocab entries and bert_config.json to {args.output_dir}")


if __name__ == "__main__":
    main()
