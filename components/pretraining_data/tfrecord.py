"""TFRecord files of `tf.train.Example`s, written without TensorFlow.

An Example is a small protobuf: `Example{features: Features{feature: map<string, Feature>}}`,
each Feature an `Int64List` or `FloatList` (packed). We encode a whole batch of Examples at once
with NumPy in the exact byte layout of protobuf's deterministic serialization (map entries sorted
by key), so files are byte-identical run to run (protobuf's default map order is not stable
across processes) and equal to `tf.train.Example(...).SerializeToString(deterministic=True)`,
which the tests check. Records are framed as TFRecord does (see
`components.common.tfrecord_framing`).
"""

import numpy as np

from components.common.tfrecord_framing import (
    masked_crc32c,
    record_header,
    varint,
)

_TAG_LEN_1 = 0x0A  # field 1, length-delimited
_TAG_LEN_2 = 0x12  # field 2, length-delimited (map entry value; Feature.float_list)
_TAG_LEN_3 = 0x1A  # field 3, length-delimited (Feature.int64_list)


def _varints(values):
    """Varint bytes of non-negative ints [rows, n] as (bytes uint8 [rows, n*k], used bool)."""
    values = np.asarray(values)
    largest = int(values.max()) if values.size else 0
    if largest < 0x80:
        return values.astype(np.uint8), np.ones(values.shape, dtype=bool)
    values = values.astype(np.uint64 if largest >= 1 << 31 else np.uint32)
    width = (largest.bit_length() + 6) // 7
    data, used = [], []
    for k in range(width):
        shifted = values >> (7 * k)
        more = shifted >= 0x80
        data.append(((shifted & 0x7F) | (more << 7)).astype(np.uint8))
        used.append(shifted > 0 if k else np.ones(values.shape, dtype=bool))
    rows = values.shape[0]
    return (np.stack(data, axis=2).reshape(rows, -1), np.stack(used, axis=2).reshape(rows, -1))


def _varint_length(values):
    values = np.asarray(values, dtype=np.int64)
    length = np.ones_like(values)
    for bits in (7, 14, 21, 28, 35):
        length += values >= (1 << bits)
    return length


class _Layout:
    """Columns of a [rows, width] byte matrix; `used` marks the bytes a row really has.

    Constant bytes are merged into one piece; a length that is the same in every row becomes
    constant bytes too, so only truly variable parts (the varint payloads of ids and their
    lengths) need a `used` mask.
    """

    def __init__(self, rows):
        self.rows, self.pieces, self._constant = rows, [], bytearray()

    def constant(self, byte_values):
        self._constant += bytes(byte_values)

    def length(self, lengths):
        lengths = np.asarray(lengths)
        if (lengths == lengths[0]).all():
            self.constant(varint(int(lengths[0])))
        else:
            self.variable(*_varints(lengths[:, None]))

    def variable(self, data, used=None):
        self._flush()
        self.pieces.append((data, used))

    def _flush(self):
        if self._constant:
            self.pieces.append((np.frombuffer(bytes(self._constant), dtype=np.uint8), None))
            self._constant = bytearray()

    def compact(self):
        """The rows' used bytes back to back, and each row's length."""
        self._flush()
        width = sum(p[0].shape[-1] for p in self.pieces)
        data = np.empty((self.rows, width), dtype=np.uint8)
        used = np.ones((self.rows, width), dtype=bool)
        column = 0
        for piece, piece_used in self.pieces:
            end = column + piece.shape[-1]
            data[:, column:end] = piece
            if piece_used is not None:
                used[:, column:end] = piece_used
            column = end
        return data[used], used.sum(axis=1)


def encode_examples(features):
    """Serialize a batch: `features` maps name -> int array or float32 array [rows, n].

    Returns (data uint8 [total bytes], lengths int64 [rows]): the serialized Examples back to back.
    """
    rows = len(next(iter(features.values())))
    layout = _Layout(rows)
    entries = []
    for name in sorted(features):
        values = features[name]
        if values.dtype.kind == "f":
            payload = values.astype("<f4").view(np.uint8).reshape(rows, -1)
            payload_used = None
            payload_len = np.full(rows, payload.shape[1])
            list_tag = _TAG_LEN_2
        else:
            payload, payload_used = _varints(values)
            payload_len = payload_used.sum(axis=1)
            list_tag = _TAG_LEN_3
        list_len = 1 + _varint_length(payload_len) + payload_len
        feature_len = 1 + _varint_length(list_len) + list_len
        key = name.encode()
        entry_len = 1 + _varint_length(len(key)) + len(key) + 1 + _varint_length(feature_len) \
            + feature_len
        entries.append((key, list_tag, payload, payload_used, payload_len, list_len, feature_len,
                        entry_len))
    features_len = np.sum([1 + _varint_length(e[-1]) + e[-1] for e in entries], axis=0)
    layout.constant([_TAG_LEN_1])
    layout.length(features_len)
    for key, list_tag, payload, payload_used, payload_len, list_len, feature_len, entry_len \
            in entries:
        layout.constant([_TAG_LEN_1])
        layout.length(entry_len)
        layout.constant([_TAG_LEN_1, len(key), *key, _TAG_LEN_2])
        layout.length(feature_len)
        layout.constant([list_tag])
        layout.length(list_len)
        layout.constant([_TAG_LEN_1])
        layout.length(payload_len)
        if payload_used is None or payload_used.all():
            layout.variable(payload)
        else:
            layout.variable(payload, payload_used)
    return layout.compact()


def frame_records(data, lengths):
    """TFRecord framing of serialized records laid back to back; returns the file bytes."""
    blob = data.tobytes()
    pieces = []
    offset = 0
    for length in lengths.tolist():
        record = blob[offset:offset + length]
        header = _HEADERS.get(length)
        if header is None:
            header = _HEADERS[length] = record_header(length)
        pieces += (header, record, masked_crc32c(record).to_bytes(4, "little"))
        offset += length
    return b"".join(pieces)


_HEADERS = {}


def pretraining_features(masked, segment_ids, input_mask):
    """Google's run_pretraining schema from a `masking.MaskedRows` batch."""
    rows = masked.input_ids.shape[0]
    return {
        "input_ids": masked.input_ids,
        "input_mask": input_mask,
        "segment_ids": segment_ids,
        "masked_lm_positions": masked.masked_lm_positions,
        "masked_lm_ids": masked.masked_lm_ids,
        "masked_lm_weights": masked.masked_lm_weights,
        "next_sentence_labels": np.zeros((rows, 1), dtype=np.int32),
    }
