"""The pretraining data's format (components.records): the layout and manifest check every reader
uses, the TF-free reader against TensorFlow's own parser, and the refusals of damaged records.

Files are written with the pretraining_data stage's encoder (byte-equal to TensorFlow's
serialization, tested in test_pretraining_data_units) and read back here with
`tf.io.parse_single_example` as the reference."""

import json
import subprocess
import sys

import numpy as np
import pytest

from components.common.errors import UserError
from components.pretraining_data import masking, tfrecord
from components.records import layout, reader, schema
from components.records.example import RecordError, parse_examples
from tests.helpers_pretraining_data import google_schema, parse_dir

SEQ, PREDS, VOCAB = 16, 4, 21128


def _features(rng, rows, seq=SEQ, preds=PREDS):
    return {
        "input_ids": rng.integers(0, VOCAB, (rows, seq)),
        "input_mask": rng.integers(0, 2, (rows, seq)),
        "segment_ids": rng.integers(0, 2, (rows, seq)),
        "masked_lm_positions": rng.integers(0, seq, (rows, preds)),
        "masked_lm_ids": rng.integers(0, 21128, (rows, preds)),
        "masked_lm_weights": rng.random((rows, preds)).astype(np.float32),
        "next_sentence_labels": np.zeros((rows, 1), np.int32),
    }


def _write(path, features):
    path.write_bytes(tfrecord.frame_records(*tfrecord.encode_examples(features)))
    return str(path)


def _data_dir(directory, rows=(5, 3), heldout_rows=(4,), seed=0, manifest=None):
    """A pretraining-data directory of random records: files of `rows` train and
    `heldout_rows` held-out records, and a manifest."""
    rng = np.random.default_rng(seed)
    directory.mkdir()
    for split, counts in (("train", rows), ("heldout", heldout_rows)):
        for i, count in enumerate(counts):
            _write(directory / layout.shard_file_name(split, i, len(counts)),
                   _features(rng, count))
    (directory / "manifest.json").write_text(json.dumps(
        {"kind": layout.KIND, "max_seq_length": SEQ, "max_predictions_per_seq": PREDS,
         **(manifest or {})}))
    return str(directory)


def test_the_readers_import_neither_tensorflow_nor_torch():
    """The distiller's image has no TensorFlow, the dataprep image (the report) neither."""
    code = ("import sys, components.records.reader, components.distill.records, "
            "components.report.fill_mask, components.convert.parity;"
            "print([m for m in ('tensorflow', 'torch') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_writer_writes_the_schema():
    ints, predictions = np.zeros((2, SEQ), np.int32), np.zeros((2, PREDS), np.int32)
    masked = masking.MaskedRows(ints, predictions, predictions,
                                predictions.astype(np.float32), 0, 0, 0)
    written = tfrecord.pretraining_features(masked, ints, ints)
    assert sorted(written) == sorted(schema.FEATURES + schema.UNREAD_FEATURES)
    widths = schema.feature_widths(SEQ, PREDS)
    assert {name: written[name].shape[1] for name in widths} == widths
    assert [name for name in written if written[name].dtype.kind == "f"] == \
        list(schema.FLOAT_FEATURES)
    assert google_schema(SEQ, PREDS).keys() == written.keys()


def test_parse_examples_reads_what_tensorflow_wrote():
    import tensorflow as tf

    feature = tf.train.Feature
    example = tf.train.Example(features=tf.train.Features(feature={
        "input_ids": feature(int64_list=tf.train.Int64List(value=[101, 0, 2**40, -3])),
        "masked_lm_weights": feature(float_list=tf.train.FloatList(value=[1.0, 0.5, 0.0])),
        "next_sentence_labels": feature(int64_list=tf.train.Int64List(value=[0])),
    })).SerializeToString()
    got = parse_examples([example, example], ("input_ids", "masked_lm_weights"))
    assert got["input_ids"].dtype == np.int64 and got["masked_lm_weights"].dtype == np.float32
    assert got["input_ids"].tolist() == [[101, 0, 2**40, -3]] * 2
    assert got["masked_lm_weights"].tolist() == [[1.0, 0.5, 0.0]] * 2
    assert parse_examples([example], ("input_ids",)).keys() == {"input_ids"}


def test_parse_examples_refuses_what_is_not_the_schema():
    features = _features(np.random.default_rng(1), 3)
    data, lengths = tfrecord.encode_examples(features)
    blob = data.tobytes()
    records = [blob[0:lengths[0]], blob[lengths[0]:lengths[0] + lengths[1]]]
    short = tfrecord.encode_examples({k: v[:1, :-1] for k, v in features.items()})[0].tobytes()
    with pytest.raises(RecordError, match="input_ids has 15 values, not 16") as err:
        parse_examples([*records, short])
    assert err.value.position == 2
    with pytest.raises(RecordError, match="lacks Google's features masked_lm_ids") as err:
        parse_examples([records[0], tfrecord.encode_examples(
            {"input_ids": features["input_ids"][:1]})[0].tobytes()],
            ("input_ids", "masked_lm_ids"))
    assert err.value.position == 1
    ints_as_weights = tfrecord.encode_examples({"masked_lm_weights": features["input_ids"][:1]})
    with pytest.raises(RecordError, match="masked_lm_weights is not a float list"):
        parse_examples([ints_as_weights[0].tobytes()], ("masked_lm_weights",))
    with pytest.raises(RecordError, match="runs past the end"):
        parse_examples([records[0][:-3]])


@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_iter_batches_equals_tensorflow_across_files(tmp_path, batch_size):
    data = _data_dir(tmp_path / "data", rows=(5, 3, 4))
    files = layout.split_files(data, "train")
    assert [f.rsplit("/", 1)[1] for f in files] == [
        "train-00000-of-00003.tfrecord", "train-00001-of-00003.tfrecord",
        "train-00002-of-00003.tfrecord"]
    batches = list(reader.iter_batches(files, batch_size))
    assert [len(b["input_ids"]) for b in batches] == \
        [batch_size] * (12 // batch_size) + ([12 % batch_size] if 12 % batch_size else [])
    expected = parse_dir(data, "train", SEQ, PREDS)
    for name in schema.FEATURES:
        np.testing.assert_array_equal(np.concatenate([b[name] for b in batches]),
                                      expected[name], err_msg=name)
    first = next(reader.iter_batches(files, 2, schema.SEQUENCE_FEATURES))
    assert first.keys() == set(schema.SEQUENCE_FEATURES)
    np.testing.assert_array_equal(first["segment_ids"], expected["segment_ids"][:2])


def test_iter_batches_names_a_bad_record_and_reads_no_further_than_asked(tmp_path):
    rng = np.random.default_rng(2)
    good = _write(tmp_path / "a.tfrecord", _features(rng, 2))
    wider = _write(tmp_path / "b.tfrecord", _features(rng, 2, seq=SEQ + 1))
    with pytest.raises(UserError, match="input_ids has 17 values, not 16") as err:
        list(reader.iter_batches([good, wider], 2))
    assert f"record 0 of {wider}" in str(err.value)
    damaged = tmp_path / "c.tfrecord"
    blob = bytearray((tmp_path / "a.tfrecord").read_bytes())
    blob[-6] ^= 0x40
    damaged.write_bytes(bytes(blob))
    assert len(next(reader.iter_batches([str(damaged)], 1))["input_ids"]) == 1
    with pytest.raises(UserError, match="CRC") as err:
        list(reader.iter_batches([str(damaged)], 1))
    assert f"record 1 of {damaged}" in str(err.value)


def test_frames_refuse_damaged_files(tmp_path):
    path = tmp_path / "x.tfrecord"
    blob = tfrecord.frame_records(*tfrecord.encode_examples(
        _features(np.random.default_rng(3), 2)))
    for damage, why, where in ((lambda b: b[:5], "truncated record header", "record 0"),
                               (lambda b: b[:-2], "truncated record", "record 1"),
                               (lambda b: b"\x01" + b[1:], "length's CRC", "record 0"),
                               (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], "data's CRC",
                                "record 0")):
        path.write_bytes(damage(blob))
        with pytest.raises(UserError, match=why) as err:
            list(reader.frames(str(path)))
        assert f"{where} of {path}" in str(err.value)
    path.write_bytes(blob)
    offsets = [offset for offset, _ in reader.frames(str(path))]
    assert offsets[0] == 12 and len(offsets) == 2


def test_the_layout_escapes_the_directory_name(tmp_path):
    data = _data_dir(tmp_path / "run[1]*")
    assert len(layout.split_files(data, "train")) == 2
    index = reader.open_split(data, "heldout")
    assert (len(index), index.seq_length, index.max_predictions) == (4, SEQ, PREDS)
    expected = parse_dir(data.replace("[", "[[]"), "heldout", SEQ, PREDS)
    np.testing.assert_array_equal(index.batch([3, 0])["masked_lm_ids"],
                                  expected["masked_lm_ids"][[3, 0]])
    assert layout.split_files(str(tmp_path / "run1"), "train") == []
    with pytest.raises(ValueError, match="split must be one of train, heldout"):
        layout.split_files(data, "test")


def test_the_manifest_check(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        layout.read_data_manifest(str(tmp_path / "nowhere"))
    data = _data_dir(tmp_path / "data")
    assert layout.read_data_manifest(data)["max_seq_length"] == SEQ
    (tmp_path / "data" / "manifest.json").unlink()
    with pytest.raises(UserError, match="no manifest.json, so it is incomplete") as err:
        layout.read_data_manifest(data, fix="try harder")
    assert "try harder" in str(err.value) and data in str(err.value)
    (tmp_path / "data" / "manifest.json").write_text(json.dumps({"kind": "corpus"}))
    with pytest.raises(UserError, match="expected a 'pretraining_data' artifact, found 'corpus'"):
        reader.open_split(data, "train")


def test_lengths_other_than_the_manifest_says_are_refused(tmp_path):
    data = _data_dir(tmp_path / "data", manifest={"max_predictions_per_seq": PREDS + 1})
    with pytest.raises(UserError, match="manifest says max_seq_length=16, "
                       "max_predictions_per_seq=5 but the records have 16 and 4"):
        reader.open_split(data, "train")
    layout.check_declared_lengths({}, (SEQ, PREDS), data)  # declares none: nothing to check
    layout.check_declared_lengths(None, (SEQ, PREDS), data)


def test_a_split_without_files_is_refused_when_required(tmp_path):
    data = _data_dir(tmp_path / "data", heldout_rows=())
    assert layout.split_files(data, "heldout") == []
    with pytest.raises(UserError, match=r"no heldout-\*.tfrecord files found") as err:
        reader.open_split(data, "heldout")
    assert "--heldout_fraction > 0" in str(err.value)


def test_every_reader_takes_the_layout_from_here(tmp_path):
    """mlm (the trainer's tf.data input), convert's parity check and the report read the same
    files of a directory whose name globs would misread, and refuse it without a manifest."""
    from components.convert.parity import instances_from_records
    from components.mlm import records as mlm_records
    from components.report.fill_mask import heldout_examples

    data = _data_dir(tmp_path / "data[x]", rows=(2,), heldout_rows=(3,))
    files, manifest = mlm_records.list_input_files(data, "heldout")
    assert files == layout.split_files(data, "heldout") and manifest["kind"] == layout.KIND
    assert mlm_records.check_lengths(data, files, manifest) == (SEQ, PREDS)
    config = type("Config", (), {"max_position_embeddings": SEQ, "vocab_size": VOCAB,
                                 "type_vocab_size": 2})
    batch, _ = instances_from_records(data, config, 4)  # held-out first, then train
    expected = {split: parse_dir(data.replace("[", "[[]"), split, SEQ, PREDS)
                for split in layout.SPLITS}
    np.testing.assert_array_equal(batch["input_ids"], np.concatenate(
        [expected["heldout"]["input_ids"], expected["train"]["input_ids"][:1]]))
    vocab = ["中"] * VOCAB  # every masked token a CJK character: one example per record
    assert [answer for _, answer, _ in heldout_examples(data, vocab, 2)] == ["中", "中"]
    (tmp_path / "data[x]" / "manifest.json").unlink()
    for read in (lambda: mlm_records.list_input_files(data, "heldout"),
                 lambda: instances_from_records(data, config, 4),
                 lambda: heldout_examples(data, vocab, 2)):
        with pytest.raises(UserError, match="no manifest.json"):
            read()
