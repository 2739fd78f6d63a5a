"""Property-based tests (Hypothesis) of the text path over arbitrary Unicode passages.

Cleaning (extract), segmentation, WordPiece and masking (pretraining_data) must never crash and
must keep the artifact contracts (ARCHITECTURE.md): a cleaned passage is one line without `\\r`,
U+2028/2029, control characters or whitespace runs; segmenter words cover the passage exactly;
token offsets stay inside their passage; every row is `[CLS] text [SEP] [PAD]…` of max_seq_length;
masked positions are never `[CLS]`/`[SEP]`/`[PAD]`; labels equal the original ids; a whole word is
masked wholly or not at all; at most max_predictions_per_seq predictions per row.

Deterministic for CI: `derandomize=True`, no example database, a fixed number of examples per
property; each test asserts that this many examples ran.
"""

import re
import string
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.bert.vocab import load_vocab
from components.extract.cleaning import PUNCTUATION_MAP, Cleaner, clean_passage
from components.pretraining_data import instances, masking, segment, wordpiece, worker
from components.pretraining_data.arguments import PretrainingDataArguments
from tests.helpers_faults import SAMPLE_DIR

MAX_EXAMPLES = 150
FUZZ = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
VOCAB = load_vocab(str(SAMPLE_DIR / "vocab.txt"))
VOCAB_CHARS = [t for t in VOCAB.tokens if len(t) == 1]
CJK_VOCAB_CHARS = [c for c in VOCAB_CHARS if "\u4e00" <= c <= "\u9fff"]
AWKWARD = list("\r\n\t\v\f\x00\x07\x1b\x7f\x85\xa0\u200b\u200d\u2028\u2029\u3000\ufeff"
               "\u201c\u201d\u2026\u2014<>&;/#[]") + ["[SEP]", "[MASK]", "<p>", "&nbsp;",
                                                     "&amp;", "<br/>", "##", "e\u0301"]
CHARS = st.one_of(st.sampled_from(VOCAB_CHARS), st.sampled_from(AWKWARD), st.characters(),
                  st.sampled_from(string.ascii_letters + string.digits))
# Mostly text in the vocab's alphabet with awkward characters mixed in, plus wholly arbitrary text.
PASSAGE = st.one_of(st.lists(CHARS, max_size=120).map("".join), st.text(max_size=80))
CJK_PASSAGE = st.lists(st.sampled_from(CJK_VOCAB_CHARS), min_size=1, max_size=60).map("".join)
EXAMPLES_RUN = {}


def run_property(name, check, *strategies):
    """Run `check` over FUZZ's examples of `strategies`; return how many examples ran."""
    ran = 0

    @FUZZ
    @given(st.tuples(*strategies))
    def prop(values):
        nonlocal ran
        ran += 1
        check(*values)

    prop()
    assert ran >= MAX_EXAMPLES, f"{name}: only {ran} examples ran"
    EXAMPLES_RUN[name] = ran
    print(f"{name}: {ran} Hypothesis examples")
    return ran


def cleaned(texts):
    return [p for p in (clean_passage(t) for t in texts) if p]


def check_clean(text):
    for normalize in (True, False):
        out = clean_passage(text, normalize_punctuation=normalize)
        assert out == out.strip()
        assert "  " not in out
        assert not re.search(r"[^\S ]", out), repr(out)  # the only whitespace is ASCII space
        assert not any(unicodedata.category(c) == "Cc" for c in out), repr(out)
        assert "\u200b" not in out and "\ufeff" not in out
        if normalize:
            assert not set(out) & {chr(k) for k in PUNCTUATION_MAP}
        if "<" not in text and "&" not in text:
            assert clean_passage(out, normalize) == out


def test_cleaning_gives_one_clean_line():
    run_property("cleaning", check_clean, PASSAGE)


def check_cleaner(values, min_chars):
    cleaner = Cleaner(min_chars=min_chars, errors="replace")
    kept = [p for p in map(cleaner.clean, values) if p is not None]
    assert cleaner.rows_read == len(values)
    assert cleaner.rows_kept == len(kept) == len(set(kept))
    assert cleaner.rows_read == cleaner.rows_kept + sum(cleaner.dropped.values())
    assert all(len(p) >= min_chars and "\n" not in p for p in kept)


def test_cleaner_counts_every_row_and_keeps_only_long_unique_passages():
    value = st.one_of(st.none(), PASSAGE, st.binary(max_size=40))
    run_property("cleaner", check_cleaner, st.lists(value, max_size=12),
                 st.integers(0, 20))


@pytest.mark.parametrize("name", segment.SEGMENTERS)
def test_segmenter_words_cover_every_character(name):
    segmenter = segment.Segmenter(name)

    def check(texts):
        passages = cleaned(texts)
        for passage in passages:
            assert "".join(segmenter.cut(passage)) == passage
        lengths = segmenter.word_lengths(passages)
        assert int(lengths.sum()) == sum(map(len, passages))
        assert (lengths > 0).all()

    run_property(f"segmentation[{name}]", check, st.lists(PASSAGE, max_size=6))


TOKENIZER = wordpiece.build_tokenizer(VOCAB)
ENCODER = wordpiece.PassageEncoder(TOKENIZER)


def check_wordpiece(texts):
    passages = cleaned(texts)
    ids, starts, counts = ENCODER.encode(passages)
    assert len(ids) == len(starts) == int(counts.sum())
    assert ((ids >= 0) & (ids < VOCAB.size)).all()
    offset = 0
    for passage, count in zip(passages, counts.tolist(), strict=True):
        mine = starts[offset:offset + count]
        assert ((mine >= 0) & (mine < len(passage))).all()
        assert (np.diff(mine) >= 0).all()
        offset += count


def test_wordpiece_ids_and_offsets_stay_in_range():
    run_property("wordpiece", check_wordpiece, st.lists(PASSAGE, max_size=6))


def plain_encode(passages):
    """The tokenizer on whole passages, no caching: what PassageEncoder must reproduce."""
    encodings = TOKENIZER.encode_batch(passages, add_special_tokens=False)
    return ([e.ids for e in encodings], [[o[0] for o in e.offsets] for e in encodings])


def check_encoder_equals_plain_tokenizer(passages):
    encoder = wordpiece.PassageEncoder(TOKENIZER)  # fresh: the first batch fills its table
    for _ in range(2):
        ids, starts, counts = encoder.encode(passages)
        ends = np.cumsum(counts)
        pieces = [slice(end - count, end) for end, count in zip(ends, counts, strict=True)]
        assert ([ids[p].tolist() for p in pieces],
                [starts[p].tolist() for p in pieces]) == plain_encode(passages)


# Chinese characters beside what could change their tokens if they were not words of their own:
# combining accents, compatibility ideographs (NFD turns them into other ideographs), characters
# outside the BMP, control characters, letters, digits and fullwidth forms.
NEIGHBOURS = st.sampled_from(list("\u0301\u0308\uf900\uf9ffa9Z\uff21\uff11\x00\ufffd\x1c "
                                  "\u3000，。.-_#") + ["\U00020000", "\U0002a700", "\U0001f600",
                                                      "##", "[MASK]", "e\u0301", "x" * 101])
MIXED_PASSAGE = st.lists(st.one_of(st.sampled_from(CJK_VOCAB_CHARS), NEIGHBOURS),
                         max_size=60).map("".join)


def test_passage_encoder_equals_the_plain_tokenizer():
    run_property("wordpiece[encoder]", check_encoder_equals_plain_tokenizer,
                 st.lists(st.one_of(PASSAGE, MIXED_PASSAGE), max_size=6))


def test_passage_encoder_equals_the_plain_tokenizer_on_the_sample_corpus():
    passages = (SAMPLE_DIR / "corpus.txt").read_text(encoding="utf-8").splitlines()
    check_encoder_equals_plain_tokenizer(passages)


def check_cjk_wordpiece(passage):
    ids, _, _ = ENCODER.encode([passage])
    assert ids.tolist() == [VOCAB.id_of(c) for c in passage]


def test_chinese_characters_are_one_token_each_with_their_plain_id():
    run_property("wordpiece[cjk]", check_cjk_wordpiece, CJK_PASSAGE)


PARAMETERS = st.fixed_dictionaries({
    "max_seq_length": st.integers(4, 48),
    "prediction_share": st.floats(0.05, 1.0),
    "masked_lm_prob": st.floats(0.01, 0.99),
    "short_seq_prob": st.sampled_from([0.0, 0.1, 0.5, 0.99]),
    "dupe_factor": st.integers(1, 3),
    "do_whole_word_mask": st.booleans(),
    "pack": st.booleans(),
    "seed": st.integers(0, 2**32 - 1),
})


def make_rows(passages, p):
    settings_ = PretrainingDataArguments(
        input_file=[], vocab_file=str(SAMPLE_DIR / "vocab.txt"), do_lower_case=True,
        segmenter="jieba", user_dict=None, max_seq_length=p["max_seq_length"],
        max_predictions_per_seq=max(1, int(p["prediction_share"] * p["max_seq_length"])),
        masked_lm_prob=p["masked_lm_prob"], short_seq_prob=p["short_seq_prob"],
        dupe_factor=p["dupe_factor"], random_seed=p["seed"],
        do_whole_word_mask=p["do_whole_word_mask"], heldout_fraction=0.0, pack=p["pack"],
        output_dir="")
    worker.init_process(settings_)
    rng = np.random.default_rng(p["seed"])
    ids, continues, counts = worker._tokens(passages, settings_, worker._Clock())
    ids, continues, counts = worker.drop_bad_passages(passages, ids, continues, counts, {})
    if not len(counts):
        return None  # the worker skips a split with nothing left
    stream, stream_continues, starts, lengths = worker._plan(ids, continues, counts, settings_,
                                                             rng)
    rows = instances.build_rows(stream, stream_continues, starts, lengths, p["max_seq_length"],
                                VOCAB.id_of("[CLS]"), VOCAB.id_of("[SEP]"), VOCAB.id_of("[PAD]"))
    masked = masking.mask_rows(rows, settings_.masked_lm_prob, settings_.max_predictions_per_seq,
                               VOCAB.size, VOCAB.id_of("[MASK]"), rng)
    return settings_, counts, lengths, rows, masked


def check_masking(texts, p):
    passages = cleaned(texts)
    made = make_rows(passages, p)
    if made is None:
        return
    s, counts, lengths, rows, masked = made
    cls, sep, pad = (VOCAB.id_of(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    n, width = len(rows.input_ids), s.max_seq_length
    assert rows.input_ids.shape == masked.input_ids.shape == (n, width)
    assert masked.masked_lm_positions.shape == (n, s.max_predictions_per_seq)
    if not s.pack:
        assert int(lengths.sum()) == s.dupe_factor * int(counts.sum())
    columns = np.arange(width)[None, :]
    real = rows.real_length[:, None]
    assert (rows.real_length >= 3).all() and (rows.real_length <= width).all()
    assert (rows.input_ids[:, 0] == cls).all()
    assert (rows.input_ids[np.arange(n), rows.real_length - 1] == sep).all()
    assert (rows.input_ids[columns >= real] == pad).all()
    chosen = np.zeros_like(rows.candidate)
    for r in range(n):
        weights = masked.masked_lm_weights[r]
        k = int(weights.sum())
        assert (weights[:k] == 1).all() and (weights[k:] == 0).all()
        assert k <= s.max_predictions_per_seq
        positions = masked.masked_lm_positions[r, :k]
        assert (np.diff(positions) > 0).all()
        assert ((positions > 0) & (positions < rows.real_length[r] - 1)).all()
        original = rows.input_ids[r, positions]
        assert not np.isin(original, [cls, sep, pad]).any()
        assert (masked.masked_lm_ids[r, :k] == original).all()
        chosen[r, positions] = True
    assert (masked.input_ids[~chosen] == rows.input_ids[~chosen]).all()
    assert ((masked.input_ids >= 0) & (masked.input_ids < VOCAB.size)).all()
    joins = rows.continues_word[:, 1:] & rows.candidate[:, 1:] & rows.candidate[:, :-1]
    assert (chosen[:, 1:][joins] == chosen[:, :-1][joins]).all(), "a whole word was cut"


@pytest.mark.slow  # 150 fuzzed runs of the data prep, ~20 s: `make test`, not the inner loop
def test_masking_invariants_hold_for_any_passages_and_parameters():
    run_property("masking", check_masking, st.lists(PASSAGE, min_size=1, max_size=6),
                 PARAMETERS)
