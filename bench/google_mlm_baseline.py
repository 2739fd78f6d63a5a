"""The baseline for bench/pretraining_data.py: the users' script, restated.

Google's create_pretraining_data.py with the users' changes (next-sentence prediction removed,
jieba whole-word marking with "##" as in the Chinese-BERT-wwm scripts): Python FullTokenizer,
jieba re-run on every dupe pass, per-token Python masking with `random.Random`, every instance
kept in memory, shuffled, then written with `tf.train.Example` + `tf.io.TFRecordWriter`. One
process. Used only to measure the same machine's baseline speed on a slice of the corpus.

    .venv/bin/python bench/google_mlm_baseline.py --input_file CORPUS --vocab_file VOCAB \
        --output_file OUT.tfrecord [--characters 150000]

Prints one JSON line: characters, instances, seconds (after imports) and seconds with imports.
"""

import argparse
import collections
import json
import random
import re
import time
import unicodedata

STARTED = time.perf_counter()
import jieba  # noqa: E402
import tensorflow as tf  # noqa: E402

IMPORTED = time.perf_counter()
MaskedLm = collections.namedtuple("MaskedLm", ["index", "label"])


def _is_punctuation(char):
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_chinese(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class FullTokenizer:
    """Google's tokenization.FullTokenizer (BasicTokenizer + WordpieceTokenizer), lower case."""

    def __init__(self, vocab_file):
        with open(vocab_file, encoding="utf-8") as f:
            self.vocab = {line.strip(): i for i, line in enumerate(f)}

    def _basic(self, text):
        cleaned = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(char).startswith("C")
                                           and char not in "\t\n\r"):
                continue
            if _is_chinese(cp):
                cleaned += [" ", char, " "]
            else:
                cleaned.append(" " if char.isspace() else char)
        tokens = []
        for token in "".join(cleaned).split():
            token = "".join(c for c in unicodedata.normalize("NFD", token.lower())
                            if unicodedata.category(c) != "Mn")
            word = []
            for char in token:
                if _is_punctuation(char):
                    if word:
                        tokens.append("".join(word))
                        word = []
                    tokens.append(char)
                else:
                    word.append(char)
            if word:
                tokens.append("".join(word))
        return tokens

    def _wordpiece(self, token):
        if len(token) > 100:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(token):
            end, piece = len(token), None
            while start < end:
                candidate = ("##" if start > 0 else "") + token[start:end]
                if candidate in self.vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                return ["[UNK]"]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text):
        return [piece for token in self._basic(text) for piece in self._wordpiece(token)]


def whole_word_marks(tokens):
    """The wwm scripts' get_new_segment: '##' before non-initial characters of jieba words."""
    words = set(jieba.lcut("".join(tokens)))
    marked, i = [], 0
    while i < len(tokens):
        if not re.findall("[\u4E00-\u9FA5]", tokens[i]):
            marked.append(tokens[i])
            i += 1
            continue
        for length in range(3, 0, -1):
            if i + length <= len(tokens) and "".join(tokens[i:i + length]) in words:
                marked.append(tokens[i])
                marked += ["##" + t for t in tokens[i + 1:i + length]]
                i += length
                break
        else:
            marked.append(tokens[i])
            i += 1
    return marked


def masked_lm_predictions(tokens, vocab_words, rng, masked_lm_prob=0.15, max_predictions=20):
    candidates = []
    for i, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]"):
            continue
        if candidates and token.startswith("##"):
            candidates[-1].append(i)
        else:
            candidates.append([i])
    rng.shuffle(candidates)
    output = [t[2:] if len(re.findall("##[\u4E00-\u9FA5]", t)) > 0 else t for t in tokens]
    wanted = min(max_predictions, max(1, int(round(len(tokens) * masked_lm_prob))))
    masked, covered = [], set()
    for group in candidates:
        if len(masked) >= wanted:
            break
        if len(masked) + len(group) > wanted or any(i in covered for i in group):
            continue
        for i in group:
            covered.add(i)
            original = output[i]
            if rng.random() < 0.8:
                shown = "[MASK]"
            elif rng.random() < 0.5:
                shown = original
            else:
                shown = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            masked.append(MaskedLm(i, tokens[i][2:] if tokens[i].startswith("##") and
                                   re.findall("[\u4E00-\u9FA5]", tokens[i]) else tokens[i]))
            output[i] = shown
    masked.sort(key=lambda m: m.index)
    return output, [m.index for m in masked], [m.label for m in masked]


def instances_of(tokens, rng, max_seq_length=128, short_seq_prob=0.1):
    max_num_tokens = max_seq_length - 2
    target = rng.randint(2, max_num_tokens) if rng.random() < short_seq_prob else max_num_tokens
    marked = whole_word_marks(tokens)
    for start in range(0, len(marked), target):
        yield ["[CLS]"] + marked[start:start + target] + ["[SEP]"]


def example(tokens, positions, labels, vocab, max_seq_length=128, max_predictions=20):
    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    ids = [vocab.get(t, vocab["[UNK]"]) for t in tokens]
    pad = max_seq_length - len(ids)
    label_ids = [vocab.get(t, vocab["[UNK]"]) for t in labels]
    pred_pad = max_predictions - len(positions)
    features = {
        "input_ids": ints(ids + [0] * pad), "input_mask": ints([1] * len(ids) + [0] * pad),
        "segment_ids": ints([0] * max_seq_length),
        "masked_lm_positions": ints(positions + [0] * pred_pad),
        "masked_lm_ids": ints(label_ids + [0] * pred_pad),
        "masked_lm_weights": tf.train.Feature(float_list=tf.train.FloatList(
            value=[1.0] * len(positions) + [0.0] * pred_pad)),
        "next_sentence_labels": ints([0]),
    }
    return tf.train.Example(features=tf.train.Features(feature=features))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input_file", required=True)
    parser.add_argument("--vocab_file", required=True)
    parser.add_argument("--output_file", required=True)
    parser.add_argument("--characters", type=int, default=150_000,
                        help="read passages from the start of the corpus up to this many")
    parser.add_argument("--dupe_factor", type=int, default=5)
    args = parser.parse_args()
    began, cpu_began = time.perf_counter(), time.process_time()
    tokenizer = FullTokenizer(args.vocab_file)
    vocab_words = list(tokenizer.vocab)
    passages, characters = [], 0
    with open(args.input_file, encoding="utf-8") as f:
        for line in f:
            if characters >= args.characters:
                break
            passages.append(line.strip())
            characters += len(passages[-1])
    documents = [tokenizer.tokenize(p) for p in passages if p]
    rng = random.Random(12345)
    instances = []
    for _ in range(args.dupe_factor):
        for tokens in documents:
            for row in instances_of(tokens, rng):
                instances.append((row, *masked_lm_predictions(row, vocab_words, rng)))
    rng.shuffle(instances)
    with tf.io.TFRecordWriter(args.output_file) as writer:
        for _, shown, positions, labels in instances:
            writer.write(example(shown, positions, labels, tokenizer.vocab).SerializeToString())
    ended = time.perf_counter()
    print(json.dumps({"characters": characters, "instances": len(instances),
                      "seconds": ended - began, "cpu_seconds": time.process_time() - cpu_began,
                      "seconds_with_imports": ended - STARTED,
                      "import_seconds": IMPORTED - STARTED}))


if __name__ == "__main__":
    main()
