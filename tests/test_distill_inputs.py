"""The distiller's inputs: the TF-free record reader against TensorFlow's parser, and the
refusals of bad data, teacher directories and student shapes (`test_distill_units.py` has the
loss and the student's initialisation)."""

import json

import numpy as np
import pytest
import transformers

from components.common.errors import UserError
from components.common.tfrecord_framing import length_delimited, varint
from components.distill import records
from components.distill.student import StudentShape, load_teacher, student_config
from tests.helpers_distill import MAX_PREDICTIONS, MAX_SEQ_LENGTH, copy_dir
from tests.helpers_pretraining_data import parse_dir


@pytest.fixture(scope="module")
def teacher(distill_inputs):
    return load_teacher(distill_inputs.teacher_dir)

# --- the TF-free reader ------------------------------------------------------------------------

@pytest.mark.parametrize("split", ["train", "heldout"])
def test_reader_equals_tensorflow_parse_single_example(distill_inputs, split):
    index = records.open_split(distill_inputs.data_dir, split)
    assert (index.seq_length, index.max_predictions) == (MAX_SEQ_LENGTH, MAX_PREDICTIONS)
    expected = parse_dir(distill_inputs.data_dir, split, MAX_SEQ_LENGTH, MAX_PREDICTIONS)
    assert len(index) == len(expected["input_ids"]) == \
        index.manifest[f"{split}_instances"]
    order = np.random.default_rng(1).permutation(len(index))
    got = index.batch(order)
    for name in records.FEATURES:
        want_dtype = np.float32 if name == "masked_lm_weights" else np.int64
        assert got[name].dtype == want_dtype, name
        np.testing.assert_array_equal(got[name], expected[name][order], err_msg=name)
    assert (got["masked_lm_weights"] > 0).sum() > 0


def _unpacked_example(features):
    """An Example with unpacked lists (one tag per value) and map entries in reverse order."""
    entries = b""
    for name in reversed(sorted(features)):
        values = features[name]
        if isinstance(values[0], float):
            body = b"".join(b"\x0d" + np.float32(v).tobytes() for v in values)
            feature = length_delimited(2, body)
        else:
            feature = length_delimited(3, b"".join(b"\x08" + varint(v) for v in values))
        entry = length_delimited(1, name.encode()) + length_delimited(2, feature)
        entries += length_delimited(1, entry)
    return length_delimited(1, entries)


def test_reader_accepts_unpacked_lists_as_tensorflow_does(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(2)
    examples = [{"input_ids": rng.integers(0, 30000, 8).tolist(),
                 "input_mask": [1] * 6 + [0] * 2, "segment_ids": [0] * 4 + [1] * 4,
                 "masked_lm_positions": rng.integers(0, 8, 3).tolist(),
                 "masked_lm_ids": rng.integers(0, 300, 3).tolist(),
                 "masked_lm_weights": [1.0, 0.5, 0.0], "next_sentence_labels": [0]}
                for _ in range(3)]
    with tf.io.TFRecordWriter(str(tmp_path / "train-00000-of-00001.tfrecord")) as writer:
        for example in examples:
            writer.write(_unpacked_example(example))
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "pretraining_data"}))
    got = records.open_split(str(tmp_path), "train").batch([0, 1, 2])
    expected = parse_dir(str(tmp_path), "train", 8, 3)
    for name in records.FEATURES:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


# --- bad input ---------------------------------------------------------------------------------

def _train_file(directory):
    return sorted(p for p in directory.iterdir() if p.name.startswith("train-"))[0]


def test_a_corrupted_byte_is_a_user_error_naming_the_file(distill_inputs, tmp_path):
    data = tmp_path / "data"
    copy_dir(distill_inputs.data_dir, data)
    path = _train_file(data)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x40
    path.write_bytes(bytes(blob))
    with pytest.raises(UserError, match="CRC") as err:
        records.open_split(str(data), "train")
    assert str(path) in str(err.value) and "record " in str(err.value)

    path.write_bytes(bytes(blob[:len(blob) // 3]))
    with pytest.raises(UserError, match="truncated") as err:
        records.open_split(str(data), "train")
    assert str(path) in str(err.value)


def test_a_record_without_googles_features_is_a_user_error(tmp_path):
    import tensorflow as tf

    example = tf.train.Example(features=tf.train.Features(feature={
        "input_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 2]))}))
    with tf.io.TFRecordWriter(str(tmp_path / "heldout-00000-of-00001.tfrecord")) as writer:
        writer.write(example.SerializeToString())
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "pretraining_data"}))
    with pytest.raises(UserError, match="lacks Google's features .*masked_lm_ids") as err:
        records.open_split(str(tmp_path), "heldout")
    assert "record 0 of" in str(err.value)


def test_bad_data_directories(distill_inputs, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        records.open_split(str(tmp_path / "nowhere"), "train")
    data = tmp_path / "data"
    copy_dir(distill_inputs.data_dir, data)
    (data / "manifest.json").unlink()
    with pytest.raises(UserError, match="no manifest.json"):
        records.open_split(str(data), "train")
    (data / "manifest.json").write_text(json.dumps({"kind": "corpus"}))
    with pytest.raises(UserError, match="expected a 'pretraining_data'"):
        records.open_split(str(data), "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.json").write_text(json.dumps({"kind": "pretraining_data"}))
    with pytest.raises(UserError, match="no heldout-"):
        records.open_split(str(empty), "heldout")


def test_data_made_with_another_vocab_is_refused(distill_inputs, tmp_path):
    data = tmp_path / "data"
    copy_dir(distill_inputs.data_dir, data)
    index = records.open_split(str(data), "heldout")
    records.check_data_matches_teacher(index, distill_inputs.teacher_dir)
    index.manifest["vocab_sha256"] = "0" * 64
    with pytest.raises(UserError, match="another vocab") as err:
        records.check_data_matches_teacher(index, distill_inputs.teacher_dir)
    assert distill_inputs.teacher_dir in str(err.value) and str(data) in str(err.value)


def test_bad_teacher_directories(distill_inputs, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_teacher(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="no config.json"):
        load_teacher(str(tmp_path))
    other = tmp_path / "gpt2"
    copy_dir(distill_inputs.teacher_dir, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(UserError, match="expected a BERT model, found model_type 'gpt2'"):
        load_teacher(str(other))


def test_bad_student_shapes(teacher):
    with pytest.raises(UserError, match="not divisible by 3 attention heads"):
        student_config(teacher.config, StudentShape(2, hidden_size=64, num_attention_heads=3))
    with pytest.raises(UserError, match="hidden size 50 is not divisible by 4"):
        student_config(teacher.config, StudentShape(2, hidden_size=50))
    with pytest.raises(UserError, match="5 layers, more than the teacher's 4"):
        student_config(teacher.config, StudentShape(5))
    assert isinstance(student_config(teacher.config, StudentShape(4)), transformers.BertConfig)
