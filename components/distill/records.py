"""The pretraining-data directory read without TensorFlow: random access to its records.

`open_split` indexes a split's TFRecord files in one pass: the (file, byte offset, length) of
every record, with both masked CRC-32Cs of each record checked (the length's and the data's, as
`components.pretraining_data.tfrecord` writes them). `RecordIndex.batch` then reads any records
by offset (`os.pread`), so the train split need not fit in memory and any order costs the same.

A record is a `tf.train.Example` protobuf, parsed here by hand:
    Example   { 1: Features }
    Features  { 1: repeated MapEntry { 1: key (string), 2: Feature } }
    Feature   { 2: FloatList { 1: packed float }, 3: Int64List { 1: packed varint } }
Only the map entries are walked in Python (a few per record); the ids of a whole batch are
decoded from their varints at once with NumPy. Unpacked lists (older writers) are read too.
"""

import glob
import os
import threading

import numpy as np

from components.bert.vocab import check_vocab_matches_config, vocab_sha256
from components.common.artifacts import read_manifest
from components.common.errors import UserError
from components.common.tfrecord_framing import FOOTER_BYTES, HEADER_BYTES, masked_crc32c

FEATURES = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids",
            "masked_lm_weights")
SEQUENCE_FEATURES = FEATURES[:3]
FLOAT_FEATURES = ("masked_lm_weights",)
SPLIT_PATTERNS = {"train": "train-*.tfrecord", "heldout": "heldout-*.tfrecord"}

_WIRE_VARINT, _WIRE_FIXED64, _WIRE_LEN, _WIRE_FIXED32 = 0, 1, 2, 5
_FLOAT_LIST, _INT64_LIST = 2, 3
_WANTED = {name.encode(): name for name in FEATURES}


class RecordError(ValueError):
    """A record that is not a well-formed Example in Google's schema (message says why)."""


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


def _feature_lists(buf):
    """{feature name: (list kind, [(wire type, start, end) of its values])} of one Example."""
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
                    name = _WANTED.get(bytes(buf[s:e]))
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


class _Batch:
    """Value bytes of one feature over a batch, gathered record by record."""

    def __init__(self):
        self.chunks, self.counts = [], []

    def add(self, kind, pieces, buf):
        unpacked = _WIRE_VARINT if kind == _INT64_LIST else _WIRE_FIXED32
        if any(wire not in (_WIRE_LEN, unpacked) for wire, _, _ in pieces):
            raise RecordError("a list value of unexpected wire type")
        self.chunks.append(b"".join(buf[start:end] for _, start, end in pieces))

    def values(self, kind):
        """(the values back to back, how many each record has)."""
        sizes = np.fromiter(map(len, self.chunks), dtype=np.int64, count=len(self.chunks))
        data = np.frombuffer(b"".join(self.chunks), dtype=np.uint8)
        if kind == _FLOAT_LIST:
            if (sizes % 4).any():
                raise RecordError("a float list whose length is not a multiple of 4")
            return data.view("<f4").astype(np.float32), sizes // 4
        ends = np.concatenate(([0], np.cumsum(data < 0x80)))
        starts = np.concatenate(([0], np.cumsum(sizes)))
        return _decode_varints(data), ends[starts[1:]] - ends[starts[:-1]]


class RecordIndex:
    """The records of one split: where each is, checked once; `batch(indices)` reads them.

    Safe to share between threads (reads are `os.pread`) and to pickle (file handles reopen)."""

    def __init__(self, files, manifest, where):
        self.files, self.manifest, self.where = list(files), manifest, where
        self._handles, self._opening = {}, threading.Lock()
        file_ids, offsets, lengths, numbers = [], [], [], []
        for file_id, path in enumerate(self.files):
            for number, (offset, length) in enumerate(_scan(path)):
                file_ids.append(file_id)
                offsets.append(offset)
                lengths.append(length)
                numbers.append(number)
        if not offsets:
            raise UserError("the TFRecord files hold no records", where=where,
                            fix="regenerate the pretraining data from a non-empty corpus")
        self.file_ids = np.asarray(file_ids, dtype=np.int32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.record_numbers = np.asarray(numbers, dtype=np.int64)
        self.seq_length = self.max_predictions = None  # the first record's, set below
        first = self._parse([0], [self._read(0)])
        self.seq_length = int(first["input_ids"].shape[1])
        self.max_predictions = int(first["masked_lm_positions"].shape[1])
        declared = (manifest.get("max_seq_length"), manifest.get("max_predictions_per_seq"))
        if None not in declared and declared != (self.seq_length, self.max_predictions):
            raise UserError(f"manifest says max_seq_length={declared[0]}, "
                            f"max_predictions_per_seq={declared[1]} but the records have "
                            f"{self.seq_length} and {self.max_predictions}",
                            where=self.files[0], fix="regenerate the pretraining data")

    def __len__(self):
        return len(self.offsets)

    def __getstate__(self):
        return {**self.__dict__, "_handles": {}, "_opening": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _opening=threading.Lock())

    def __del__(self):
        for handle in getattr(self, "_handles", {}).values():
            os.close(handle)

    def _read(self, index):
        file_id = int(self.file_ids[index])
        handle = self._handles.get(file_id)
        if handle is None:
            with self._opening:
                handle = self._handles.get(file_id)
                if handle is None:
                    handle = self._handles[file_id] = os.open(self.files[file_id], os.O_RDONLY)
        return os.pread(handle, int(self.lengths[index]), int(self.offsets[index]))

    def describe(self, index):
        """"record N of FILE" for error messages."""
        return f"record {int(self.record_numbers[index])} of " \
               f"{self.files[int(self.file_ids[index])]}"

    def batch(self, indices):
        """The records at `indices` as arrays: int64 [n, T] input_ids / input_mask /
        segment_ids, int64 [n, P] masked_lm_positions / masked_lm_ids, float32 [n, P]
        masked_lm_weights."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        return self._parse(indices, [self._read(i) for i in indices.tolist()])

    def _parse(self, indices, records):
        gathered = {name: _Batch() for name in FEATURES}
        kinds = {}
        for index, buf in zip(indices, records, strict=True):
            try:
                found = _feature_lists(buf)
                missing = [name for name in FEATURES if name not in found]
                if missing:
                    raise RecordError(f"it lacks Google's features {', '.join(missing)}")
                for name in FEATURES:
                    kind, pieces = found[name]
                    wanted = _FLOAT_LIST if name in FLOAT_FEATURES else _INT64_LIST
                    if kind != wanted:
                        raise RecordError(f"{name} is not an "
                                          f"{'float' if wanted == _FLOAT_LIST else 'int64'} list")
                    kinds[name] = kind
                    gathered[name].add(kind, pieces, buf)
            except RecordError as err:
                raise self._bad(index, str(err)) from err
        widths = {"sequence": self.seq_length, "predictions": self.max_predictions}
        arrays = {}
        for name in FEATURES:
            values, counts = gathered[name].values(kinds[name])
            group = "sequence" if name in SEQUENCE_FEATURES else "predictions"
            width = widths[group] = widths[group] or int(counts[0])
            wrong = np.flatnonzero(counts != width)
            if wrong.size:
                raise self._bad(indices[wrong[0]], f"{name} has {counts[wrong[0]]} values, "
                                f"not {width} as the other records")
            arrays[name] = values.reshape(len(counts), width)
        return arrays

    def _bad(self, index, why):
        return UserError(f"malformed record: {why}", where=self.describe(index),
                         fix="regenerate the pretraining data with the pretraining_data stage")


def _scan(path):
    """(offset of the data, length) of each record of a TFRecord file, CRCs checked."""
    with open(path, "rb") as f:
        blob = f.read()
    position, number = 0, 0
    while position < len(blob):
        header = blob[position:position + HEADER_BYTES]
        where = f"record {number} of {path}"
        fix = "regenerate the pretraining data (the file is damaged or was cut short)"
        if len(header) < HEADER_BYTES:
            raise UserError("truncated record header", where=where, fix=fix)
        size = header[:8]
        if masked_crc32c(size) != int.from_bytes(header[8:], "little"):
            raise UserError("corrupt record: the length's CRC does not match", where=where,
                            fix=fix)
        length = int.from_bytes(size, "little")
        start = position + HEADER_BYTES
        end = start + length
        if end + FOOTER_BYTES > len(blob):
            raise UserError("truncated record", where=where, fix=fix)
        stored = int.from_bytes(blob[end:end + FOOTER_BYTES], "little")
        if masked_crc32c(blob[start:end]) != stored:
            raise UserError("corrupt record: the data's CRC does not match", where=where,
                            fix=fix)
        yield start, length
        position, number = end + FOOTER_BYTES, number + 1


def open_split(input_dir, split):
    """The `split` ("train" or "heldout") of a pretraining-data directory, indexed and checked."""
    if split not in SPLIT_PATTERNS:
        raise ValueError(f"split must be one of {', '.join(SPLIT_PATTERNS)}, not {split!r}")
    if not input_dir:
        raise UserError("no input given", fix="pass --input_dir (a pretraining-data directory)")
    manifest = read_manifest(input_dir, kind="pretraining_data")
    files = sorted(f for f in glob.glob(os.path.join(glob.escape(input_dir),
                                                     SPLIT_PATTERNS[split])) if os.path.isfile(f))
    if not files:
        raise UserError(f"no {SPLIT_PATTERNS[split]} files found", where=input_dir,
                        fix="pass a pretraining-data directory"
                        + (" made with --heldout_fraction > 0" if split == "heldout" else ""))
    return RecordIndex(files, manifest, input_dir)


def check_data_matches_teacher(index, teacher_dir):
    """Refuse data made with another vocab than the teacher's (the manifest's vocab_sha256
    against the teacher's vocab.txt), a teacher whose vocab.txt and config.json disagree in
    size, or data longer than the teacher's positions."""
    import json

    vocab_file = os.path.join(teacher_dir, "vocab.txt")
    if not os.path.isfile(vocab_file):
        raise UserError("the model directory has no vocab.txt", where=teacher_dir,
                        fix="pass the convert stage's output directory (it holds vocab.txt)")
    wanted = index.manifest.get("vocab_sha256")
    if wanted and wanted != vocab_sha256(vocab_file):
        raise UserError("the pretraining data was made with another vocab than the model's",
                        where=f"{index.where} (manifest vocab_sha256 {wanted[:12]}…) vs "
                        f"{vocab_file}", fix="make the data with the model's vocab.txt")
    config_file = os.path.join(teacher_dir, "config.json")
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    # Ids past the config's vocab_size would crash the embedding lookup mid-run.
    check_vocab_matches_config(vocab_file, config.get("vocab_size"), config_file)
    positions = config.get("max_position_embeddings")
    if positions is not None and index.seq_length > positions:
        raise UserError(f"the records have max_seq_length {index.seq_length} but the model "
                        f"only {positions} positions (max_position_embeddings)",
                        where=f"{index.where} vs {teacher_dir}",
                        fix="use data made with a shorter max_seq_length")
