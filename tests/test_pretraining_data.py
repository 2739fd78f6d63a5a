"""pretraining_data on real data: Google's Chinese BERT vocab and GAOKAO passages, >= 10k instances.

The output is read back with TensorFlow in Google's schema and checked against an independent
tokenization (tokenizers' BertWordPieceTokenizer) and segmentation (jieba) of the passages.
"""

import json

import jieba
import numpy as np
import pytest
from helpers_pretraining_data import original_ids, parse_dir
from tokenizers import BertWordPieceTokenizer

from components.pretraining_data.arguments import PretrainingDataArguments
from components.pretraining_data.create import create_pretraining_data

pytestmark = pytest.mark.slow

PASSAGES = 800
KEY = 8


@pytest.fixture(scope="module")
def passages(reference_corpus):
    with open(reference_corpus, encoding="utf-8") as f:
        return [line.strip() for _, line in zip(range(PASSAGES), f, strict=False) if line.strip()]


@pytest.fixture(scope="module")
def made(tmp_path_factory, passages, reference_vocab):
    root = tmp_path_factory.mktemp("pretraining")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(passages) + "\n", encoding="utf-8")
    out = root / "out"
    # One passage per row, so each instance can be checked against its passage's tokens.
    manifest = create_pretraining_data(PretrainingDataArguments(
        input_file=str(corpus), output_dir=str(out), vocab_file=str(reference_vocab),
        num_workers=1, pack=False))
    return out, manifest, parse_dir(out)


@pytest.fixture(scope="module")
def vocab(reference_vocab):
    return [line.strip() for line in open(reference_vocab, encoding="utf-8")]


def test_at_least_10k_instances_parse_in_googles_schema(made):
    out, manifest, parsed = made
    rows = len(parsed["input_ids"])
    assert rows >= 10_000
    assert rows == manifest["train_instances"]
    assert manifest["kind"] == "pretraining_data"
    assert json.loads((out / "manifest.json").read_text())["train_files"] == manifest["train_files"]
    assert (parsed["next_sentence_labels"] == 0).all()
    assert (parsed["segment_ids"] == 0).all()
    real = parsed["input_mask"].sum(axis=1)
    assert abs(real.mean() - manifest["mean_real_tokens_per_instance"]) < 0.5


def test_rows_are_cls_text_sep_pad(made, vocab):
    _, _, parsed = made
    ids, mask = original_ids(parsed), parsed["input_mask"]
    real = mask.sum(axis=1)
    cls, sep, pad = vocab.index("[CLS]"), vocab.index("[SEP]"), vocab.index("[PAD]")
    assert (ids[:, 0] == cls).all()
    assert (ids[np.arange(len(ids)), real - 1] == sep).all()
    assert ((ids == pad) == (mask == 0)).all()
    assert (mask[:, :-1] >= mask[:, 1:]).all()


def test_masked_share_and_80_10_10(made, vocab):
    _, manifest, parsed = made
    weights, real = parsed["masked_lm_weights"], parsed["input_mask"].sum(axis=1)
    unbound = np.rint(real * 0.15) <= 20
    assert unbound.mean() > 0.99
    share = weights[unbound].sum() / real[unbound].sum()
    assert abs(share - 0.15) < 0.01, share
    rows, slots = np.nonzero(weights > 0)
    positions = parsed["masked_lm_positions"][rows, slots]
    shown = parsed["input_ids"][rows, positions]
    labels = parsed["masked_lm_ids"][rows, slots]
    as_mask = (shown == vocab.index("[MASK]")).mean()
    as_self = (shown == labels).mean()
    assert abs(as_mask - 0.8) < 0.02 and abs(as_self - 0.1) < 0.02
    assert abs(1 - as_mask - as_self - 0.1) < 0.02
    assert abs(manifest["masked_token_fraction"] - weights.sum() / real.sum()) < 1e-4


def test_specials_never_masked_and_positions_sorted(made, vocab):
    _, _, parsed = made
    weights, positions = parsed["masked_lm_weights"], parsed["masked_lm_positions"]
    real = parsed["input_mask"].sum(axis=1)
    rows, slots = np.nonzero(weights > 0)
    assert (positions[rows, slots] >= 1).all()
    assert (positions[rows, slots] < real[rows] - 1).all()
    labels = parsed["masked_lm_ids"][rows, slots]
    specials = [vocab.index(t) for t in ("[CLS]", "[SEP]", "[PAD]")]
    assert not np.isin(labels, specials).any()
    sorted_ok = np.where(weights[:, 1:] > 0, positions[:, 1:] > positions[:, :-1], True)
    assert sorted_ok.all()
    assert ((weights == 0) | (weights == 1)).all()
    assert (weights[:, :-1] >= weights[:, 1:]).all()


def _passage_index(passages, reference_vocab):
    """Independent tokenization of every passage; index of every KEY-token window."""
    tokenizer = BertWordPieceTokenizer(str(reference_vocab), lowercase=True)
    encodings = tokenizer.encode_batch(passages, add_special_tokens=False)
    index = {}
    for p, encoding in enumerate(encodings):
        ids = encoding.ids
        for start in range(len(ids) - KEY + 1):
            index.setdefault(tuple(ids[start:start + KEY]), []).append((p, start))
    return encodings, index


def test_labels_are_original_ids_and_whole_words_masked_together(made, passages,
                                                                  reference_vocab, vocab):
    """Every multi-character jieba word inside an instance is masked wholly or not at all."""
    _, _, parsed = made
    encodings, index = _passage_index(passages, reference_vocab)
    word_of_token = []
    for passage, encoding in zip(passages, encodings, strict=True):
        lengths = [len(w) for w in jieba.lcut(passage)]
        word_starts = np.cumsum(lengths) - lengths
        starts = np.array([o[0] for o in encoding.offsets], dtype=np.int64)
        word = np.searchsorted(word_starts, starts, side="right") - 1
        multi_char = np.asarray(lengths)[word] > 1
        word_of_token.append((word, multi_char))
    subword = np.array([t.startswith("##") for t in vocab])
    ids = original_ids(parsed)
    real = parsed["input_mask"].sum(axis=1)
    masked = np.zeros(ids.shape, dtype=bool)
    rows, slots = np.nonzero(parsed["masked_lm_weights"] > 0)
    masked[rows, parsed["masked_lm_positions"][rows, slots]] = True
    matched = joined_pairs = 0
    for row in range(len(ids)):
        content = ids[row, 1:real[row] - 1].tolist()
        if len(content) < KEY:
            continue
        place = next(((p, s) for p, s in index.get(tuple(content[:KEY]), [])
                      if encodings[p].ids[s:s + len(content)] == content), None)
        assert place is not None, "an instance is not a run of its passage's original tokens"
        matched += 1
        p, start = place
        word, multi_char = (a[start:start + len(content)] for a in word_of_token[p])
        row_masked = masked[row, 1:1 + len(content)]
        same_word = (word[1:] == word[:-1]) & multi_char[1:]
        continues = same_word | subword[np.asarray(content[1:])]
        joined_pairs += int(same_word.sum())
        assert (row_masked[1:][continues] == row_masked[:-1][continues]).all(), (row, p)
    assert matched == (real >= KEY + 2).sum()
    assert joined_pairs > 100_000
    cjk_subwords = [i for i, t in enumerate(vocab)
                    if t.startswith("##") and len(t) == 3 and "\u4e00" <= t[2] <= "\u9fff"]
    assert not np.isin(parsed["masked_lm_ids"][rows, slots], cjk_subwords).any()


def test_manifest_statistics(made, reference_vocab):
    _, manifest, parsed = made
    import hashlib

    assert manifest["vocab_sha256"] == hashlib.sha256(reference_vocab.read_bytes()).hexdigest()
    for key, value in {"max_seq_length": 128, "max_predictions_per_seq": 20,
                       "masked_lm_prob": 0.15, "short_seq_prob": 0.1, "dupe_factor": 5,
                       "random_seed": 123456, "do_whole_word_mask": True}.items():
        assert manifest[key] == value
    slots = parsed["input_mask"].size
    assert abs(manifest["padding_fraction"] - 1 + parsed["input_mask"].sum() / slots) < 0.01
    assert 0 < manifest["unk_fraction"] < 0.05
    counts = manifest["counts"]
    assert sum(counts["passage_chars_histogram"]) == counts["passages"] == PASSAGES
    assert sum(counts["train"]["instance_real_tokens_histogram"]) == manifest["train_instances"]
    assert 0 < counts["heldout"]["passages"] < 0.03 * PASSAGES
    assert manifest["alternative_padding_fraction"] < manifest["padding_fraction"]
