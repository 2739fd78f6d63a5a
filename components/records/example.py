"""`tf.train.Example` records parsed by hand, a batch at a time, into NumPy arrays.

    Example   { 1: Features }
    Features  { 1: repeated MapEntry { 1: key (string), 2: Feature } }
    Feature   { 2: FloatList { 1: packed float }, 3: Int64List { 1: packed varint } }

Only the map entries are walked in Python (a few per record); the values of a whole batch are
decoded from their varints at once with NumPy. Unpacked lists (older writers) are read too, as
TensorFlow reads them.
"""

import numpy as np

from components.records.schema import FEATURES, SEQUENCE_FEATURES, is_float

_WIRE_VARINT, _WIRE_FIXED64, _WIRE_LEN, _WIRE_FIXED32 = 0, 1, 2, 5
_FLOAT_LIST, _INT64_LIST = 2, 3


class RecordError(ValueError):
    """A record that is not a well-formed Example in Google's schema (the message says why);
    `position`: which of the parsed records."""

    def __init__(self, why, position=None):
        super().__init__(why)
        self.position = position


def _varint(buf, pos):
    """(value, position after it) of the varint at `pos`."""
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise RecordError("a varint runs past the end of its message")
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf, start, end):
    """[(field number, wire type, start, end)] of the fields of the message buf[start:end]; for
    a varint field, start is its position and end the position after it."""
    fields = []
    pos = start
    while pos < end:
        key = buf[pos]
        pos += 1
        if key >= 0x80:
            key, pos = _varint(buf, pos - 1)
        wire = key & 7
        if wire == _WIRE_LEN:
            length = buf[pos] if pos < end else 0x80
            pos += 1
            if length >= 0x80:
                length, pos = _varint(buf, pos - 1)
            value_end = pos + length
        elif wire == _WIRE_VARINT:
            value_end = _varint(buf, pos)[1]
        elif wire == _WIRE_FIXED32:
            value_end = pos + 4
        elif wire == _WIRE_FIXED64:
            value_end = pos + 8
        else:
            raise RecordError(f"unsupported protobuf wire type {wire}")
        if value_end > end:
            raise RecordError("a field runs past the end of its message")
        fields.append((key >> 3, wire, pos, value_end))
        pos = value_end
    return fields


def _feature_lists(buf, wanted):
    """{feature name: (list kind, [(wire type, start, end) of its values])} of one Example, for
    the names in `wanted` ({name as bytes: name})."""
    found = {}
    for field, wire, start, end in _fields(buf, 0, len(buf)):
        if field != 1 or wire != _WIRE_LEN:
            continue
        for entry_field, entry_wire, entry_start, entry_end in _fields(buf, start, end):
            if entry_field != 1 or entry_wire != _WIRE_LEN:
                continue
            name, feature = None, None
            for f, w, s, e in _fields(buf, entry_start, entry_end):
                if f == 1 and w == _WIRE_LEN:
                    name = wanted.get(bytes(buf[s:e]))
                elif f == 2 and w == _WIRE_LEN:
                    feature = (s, e)
            if name is None or feature is None:
                continue
            kind, pieces = None, []
            for f, w, s, e in _fields(buf, *feature):
                if f in (_FLOAT_LIST, _INT64_LIST) and w == _WIRE_LEN:
                    kind = f
                    pieces = [(vw, vs, ve) for vf, vw, vs, ve in _fields(buf, s, e) if vf == 1]
            found[name] = (kind, pieces)
    return found


def _decode_varints(data):
    """int64 values of the varints laid back to back in uint8 `data`."""
    if data.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = data < 0x80
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    # Each byte's place inside its varint: its index less its varint's first index.
    varint_of_byte = np.cumsum(np.concatenate(([0], last[:-1].astype(np.int64))))
    place = np.arange(data.size) - starts[varint_of_byte]
    shifted = (data & 0x7F).astype(np.uint64) << (7 * place).astype(np.uint64)
    return np.bitwise_or.reduceat(shifted, starts).view(np.int64)


class _Gathered:
    """Value bytes of one feature over a batch, gathered record by record."""

    def __init__(self, kind):
        self.kind, self.chunks = kind, []

    def add(self, pieces, buf):
        unpacked = _WIRE_VARINT if self.kind == _INT64_LIST else _WIRE_FIXED32
        if any(wire not in (_WIRE_LEN, unpacked) for wire, _, _ in pieces):
            raise RecordError("a list value of unexpected wire type")
        self.chunks.append(b"".join(buf[start:end] for _, start, end in pieces))

    def values(self):
        """(the values back to back, how many each record has)."""
        sizes = np.fromiter(map(len, self.chunks), dtype=np.int64, count=len(self.chunks))
        data = np.frombuffer(b"".join(self.chunks), dtype=np.uint8)
        if self.kind == _FLOAT_LIST:
            if (sizes % 4).any():
                raise RecordError("a float list whose length is not a multiple of 4")
            return data.view("<f4").astype(np.float32), sizes // 4
        ends = np.concatenate(([0], np.cumsum(data < 0x80)))
        starts = np.concatenate(([0], np.cumsum(sizes)))
        return _decode_varints(data), ends[starts[1:]] - ends[starts[:-1]]


def parse_examples(records, features=FEATURES, seq_length=None, max_predictions=None):
    """`features` of the serialized Examples `records` as arrays [len(records), width]: int64,
    float32 for a float feature. The sequence features share one width (`seq_length`, or the
    first record's), and so do the prediction features (`max_predictions`); a record that lacks
    a feature, holds another type or another width is a RecordError naming its position."""
    wanted = {name.encode(): name for name in features}
    gathered = {name: _Gathered(_FLOAT_LIST if is_float(name) else _INT64_LIST)
                for name in features}
    for position, buf in enumerate(records):
        try:
            found = _feature_lists(buf, wanted)
            missing = [name for name in features if name not in found]
            if missing:
                raise RecordError(f"it lacks Google's features {', '.join(missing)}")
            for name in features:
                kind, pieces = found[name]
                if kind != gathered[name].kind:
                    raise RecordError(f"{name} is not "
                                      f"{'a float' if is_float(name) else 'an int64'} list")
                gathered[name].add(pieces, buf)
        except RecordError as err:
            err.position = position
            raise
    widths = {"sequence": seq_length, "predictions": max_predictions}
    arrays = {}
    for name in features:
        values, counts = gathered[name].values()
        group = "sequence" if name in SEQUENCE_FEATURES else "predictions"
        width = widths[group] = widths[group] if widths[group] is not None \
            else int(counts[0]) if len(counts) else 0
        wrong = np.flatnonzero(counts != width)
        if wrong.size:
            raise RecordError(f"{name} has {counts[wrong[0]]} values, not {width} as the other "
                              "records", int(wrong[0]))
        arrays[name] = values.reshape(len(counts), width)
    return arrays
