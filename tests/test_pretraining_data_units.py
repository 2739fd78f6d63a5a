"""Units of pretraining_data: TFRecord encoding, Google's masking rules, rows, word groups."""

import subprocess
import sys

import numpy as np
import pytest

from components.pretraining_data import instances, masking, segment, tfrecord
from components.records.reader import frames


def _random_features(rng, rows=40):
    return {
        "input_ids": rng.integers(0, 21128, (rows, 128)).astype(np.int32),
        "input_mask": rng.integers(0, 2, (rows, 128)).astype(np.int32),
        "segment_ids": np.zeros((rows, 128), np.int32),
        "masked_lm_positions": rng.integers(0, 128, (rows, 20)).astype(np.int32),
        "masked_lm_ids": rng.integers(0, 300_000, (rows, 20)).astype(np.int32),
        "masked_lm_weights": rng.random((rows, 20)).astype(np.float32),
        "next_sentence_labels": np.zeros((rows, 1), np.int32),
    }


def test_examples_equal_tensorflows_deterministic_serialization(tmp_path):
    import tensorflow as tf

    features = _random_features(np.random.default_rng(0))
    data, lengths = tfrecord.encode_examples(features)
    offsets = np.cumsum(lengths) - lengths
    for row in range(len(lengths)):
        feature = {
            name: tf.train.Feature(float_list=tf.train.FloatList(value=values[row]))
            if values.dtype.kind == "f"
            else tf.train.Feature(int64_list=tf.train.Int64List(value=values[row]))
            for name, values in features.items()}
        expected = tf.train.Example(features=tf.train.Features(feature=feature))
        ours = data[offsets[row]:offsets[row] + lengths[row]].tobytes()
        assert ours == expected.SerializeToString(deterministic=True)
    path = tmp_path / "x.tfrecord"
    path.write_bytes(tfrecord.frame_records(data, lengths))
    read_by_tf = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    assert read_by_tf == [data for _, data in frames(path)]
    assert len(read_by_tf) == len(lengths)


def test_num_to_predict_is_googles_rounding():
    lengths = np.array([3, 10, 30, 50, 128, 200])
    expected = [min(20, max(1, round(n * 0.15))) for n in lengths.tolist()]
    assert masking.num_to_predict(lengths, 0.15, 20).tolist() == expected


def _rows(ids_rows, continues_rows):
    ids = np.array(ids_rows, dtype=np.int32)
    continues = np.array(continues_rows, dtype=bool)
    real = np.array([len(r) for r in ids_rows])
    candidate = np.zeros(ids.shape, dtype=bool)
    candidate[:, 1:-1] = True
    return instances.Rows(ids, continues, candidate, real)


def test_groups_are_never_cut_and_overflowing_groups_are_skipped():
    rng = np.random.default_rng(1)
    # one row of 20 tokens: [CLS], a 5-token word, 13 single tokens, [SEP]; 3 to predict
    ids = [[101] + list(range(1000, 1018)) + [102]]
    continues = [[False, False, True, True, True, True] + [False] * 14]
    for _ in range(200):
        chosen = masking.choose_tokens(*(lambda r: (r.candidate, r.continues_word))(
            _rows(ids, continues)), np.array([3]), rng)
        word = chosen[0, 1:6]
        assert not word.any()
        assert chosen.sum() == 3
        assert not chosen[0, [0, 19]].any()


def test_whole_word_fills_exactly_when_it_fits():
    rng = np.random.default_rng(2)
    rows = _rows([[101, 5, 6, 7, 102]], [[False, False, True, True, False]])
    chosen = masking.choose_tokens(rows.candidate, rows.continues_word, np.array([3]), rng)
    assert chosen[0].tolist() == [False, True, True, True, False]


def test_mask_rows_labels_positions_and_replacements():
    rng = np.random.default_rng(3)
    ids = [[101] + list(range(2000, 2126)) + [102]] * 500
    rows = _rows(ids, [[False] * 128] * 500)
    masked = masking.mask_rows(rows, 0.15, 20, 21128, 103, rng)
    assert (masked.masked_lm_weights.sum(axis=1) == 19).all()
    positions = masked.masked_lm_positions[:, :19]
    assert (np.diff(positions, axis=1) > 0).all()
    assert (masked.masked_lm_ids[:, :19] == positions + 1999).all()
    shown = np.take_along_axis(masked.input_ids, positions, axis=1)
    total = shown.size
    assert abs((shown == 103).sum() / total - 0.8) < 0.02
    assert masked.replaced_by_mask + masked.kept_original + masked.replaced_by_random == total


def test_unpacked_rows_are_consecutive_chunks_of_each_passage():
    rng = np.random.default_rng(4)
    counts = np.array([300, 5, 126, 127])
    starts, lengths = instances.plan_unpacked(counts, 126, 0.0, rng)
    assert lengths.tolist() == [126, 126, 48, 5, 126, 126, 1]
    assert starts.tolist() == [0, 126, 252, 300, 305, 431, 557]


def test_packed_rows_never_start_or_end_on_a_separator():
    rng = np.random.default_rng(5)
    ids = np.arange(1000, 1400, dtype=np.int32)
    counts = np.array([50, 126, 3, 200, 21])
    stream, _, is_sep = instances.pack_stream(ids, np.zeros(400, bool), counts, 102)
    assert is_sep.sum() == 4 and (stream[is_sep] == 102).all()
    starts, lengths = instances.plan_packed(is_sep, 126, 0.3, rng)
    assert not is_sep[starts].any()
    assert not is_sep[starts + lengths - 1].any()
    covered = np.zeros(len(stream), bool)
    for s, n in zip(starts, lengths, strict=True):
        covered[s:s + n] = True
    assert (covered | is_sep).all()


def test_plans_of_passages_without_tokens_are_empty():
    rng = np.random.default_rng(6)
    for plan in (instances.plan_packed(np.zeros(0, bool), 126, 0.1, rng),
                 instances.plan_unpacked(np.zeros(0, np.int64), 126, 0.1, rng)):
        assert [len(a) for a in plan] == [0, 0]


def test_continuation_flags_group_jieba_words_and_wordpieces():
    vocab_subword = np.zeros(30, dtype=bool)
    vocab_subword[20] = True
    # passage 1 "北京ab": tokens 北 京 ab, words 北京|ab -> 京 joins 北
    # passage 2 "xyz": tokens xy ##z (id 20), words x|yz -> ##z joins xy though words differ
    ids = np.array([10, 11, 12, 13, 20])
    starts = np.array([0, 1, 2, 0, 2])
    counts = np.array([3, 2])
    words = np.array([2, 2, 1, 2])
    flags = segment.continuation_flags(ids, starts, counts, np.array([4, 3]), words,
                                       vocab_subword)
    assert flags.tolist() == [False, True, False, False, True]


@pytest.mark.parametrize("name", ["jieba", "rjieba"])
def test_segmenters_cover_every_character(name, tmp_path):
    user_dict = tmp_path / "dict.txt"
    user_dict.write_text("天安门AB 10 n\n", encoding="utf-8")
    segmenter = segment.Segmenter(name, str(user_dict))
    passages = ["我爱北京天安门AB超iPhone12手机 hello　world，3.5%增长", "α粒子"]
    assert segmenter.word_lengths(passages).sum() == sum(map(len, passages))
    assert "天安门AB" in segmenter.cut(passages[0])
    assert "天安门AB" not in segment.Segmenter(name).cut(passages[0]), "the user dict leaked"


def test_stage_imports_neither_tensorflow_nor_torch():
    code = ("import sys, components.pretraining_data.create, components.pretraining_data.merge;"
            "import components.pretraining_data.__main__;"
            "bad = [m for m in ('tensorflow', 'torch') if m in sys.modules]; print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_jieba_run_cache_equals_cutting_whole_passages(sample_dir):
    import jieba

    passages = [line.strip() for line in open(sample_dir / "corpus.txt", encoding="utf-8")
                if line.strip()]
    passages += passages[:50] + ["  空格　和\t制表符 a  b ", "ＡＢＣ１２３全角", "x"]
    segmenter = segment.Segmenter("jieba")
    whole = [len(w) for p in passages for w in jieba.lcut(p)]
    assert segmenter.word_lengths(passages).tolist() == whole
