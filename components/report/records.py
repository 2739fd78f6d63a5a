"""Read the int64/float features of `tf.train.Example` records without TensorFlow (the dataprep
image has none): protobuf's wire format, decoded for the few fields the report needs."""

import glob
import os

from components.pretraining_data.tfrecord import read_records


def _varint(buf, i):
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(buf):
    """(field number, value) of one message; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, value


def _int64_list(buf):
    values = []
    for field, value in _fields(buf):
        if field != 1:
            continue
        if isinstance(value, bytes):  # packed
            i = 0
            while i < len(value):
                v, i = _varint(value, i)
                values.append(v - (1 << 64) if v >= 1 << 63 else v)
        else:
            values.append(value - (1 << 64) if value >= 1 << 63 else value)
    return values


def _float_list(buf):
    import struct

    values = []
    for field, value in _fields(buf):
        if field == 1:
            values.extend(struct.unpack(f"<{len(value) // 4}f", value))
    return values


def parse_example(serialized, wanted=None):
    """{feature name: list of numbers} of one serialized Example (only `wanted` names if given)."""
    features = {}
    for field, value in _fields(serialized):
        if field != 1:
            continue
        for entry_field, entry in _fields(value):
            if entry_field != 1:
                continue
            name, feature = None, b""
            for key_field, part in _fields(entry):
                if key_field == 1:
                    name = part.decode("utf-8")
                elif key_field == 2:
                    feature = part
            if wanted is not None and name not in wanted:
                continue
            for kind, data in _fields(feature):
                features[name] = _int64_list(data) if kind == 3 else _float_list(data)
    return features


def split_files(pretraining_data_dir, split):
    """The `train-*` or `heldout-*` TFRecord files of a pretraining-data directory, sorted."""
    return sorted(glob.glob(os.path.join(pretraining_data_dir, f"{split}-*.tfrecord")))


def iter_examples(files, wanted=None, limit=None):
    """Parsed Examples from `files` in order, at most `limit` of them."""
    count = 0
    for path in files:
        for serialized in read_records(path):
            if limit is not None and count >= limit:
                return
            yield parse_example(serialized, wanted)
            count += 1
