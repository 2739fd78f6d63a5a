"""TFRecord files of pretraining records read without TensorFlow, both CRCs of every record
checked (the length's and the data's, as `components.common.tfrecord_framing` writes them).

- `iter_batches(files, n)`: the records in file order, parsed n at a time, reading only as far as
  the caller goes (the report's fill-mask sentences, convert's parity instances, the first
  record's lengths for the trainer);
- `open_split(dir, split)` → `RecordIndex`: where every record of a split is, found in one pass;
  `batch(indices)` then reads any records by offset (`os.pread`), so the train split need not
  fit in memory and any order costs the same (the distiller's input).
"""

import mmap
import os
import threading

import numpy as np

from components.common.errors import UserError
from components.common.tfrecord_framing import FOOTER_BYTES, HEADER_BYTES, masked_crc32c
from components.records import layout
from components.records.example import RecordError, parse_examples
from components.records.schema import FEATURES, PREDICTION_FEATURES, SEQUENCE_FEATURES

REGENERATE = "regenerate the pretraining data with the pretraining_data stage"


def frames(path):
    """(offset of the data, the data) of each record of a TFRecord file, both CRCs checked.

    The file is mapped, not read: a caller that stops early reads no further."""
    fix = "regenerate the pretraining data (the file is damaged or was cut short)"
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as blob:
            position, number = 0, 0
            while position < size:
                where = f"record {number} of {path}"
                header = blob[position:position + HEADER_BYTES]
                if len(header) < HEADER_BYTES:
                    raise UserError("truncated record header", where=where, fix=fix)
                length_bytes = header[:8]
                if masked_crc32c(length_bytes) != int.from_bytes(header[8:], "little"):
                    raise UserError("corrupt record: the length's CRC does not match",
                                    where=where, fix=fix)
                start = position + HEADER_BYTES
                end = start + int.from_bytes(length_bytes, "little")
                if end + FOOTER_BYTES > size:
                    raise UserError("truncated record", where=where, fix=fix)
                data = blob[start:end]
                if masked_crc32c(data) != int.from_bytes(blob[end:end + FOOTER_BYTES], "little"):
                    raise UserError("corrupt record: the data's CRC does not match",
                                    where=where, fix=fix)
                yield start, data
                position, number = end + FOOTER_BYTES, number + 1


def malformed(why, where):
    return UserError(f"malformed record: {why}", where=where, fix=REGENERATE)


def iter_batches(files, batch_size, features=FEATURES):
    """`features` of the records of `files`, in order, as `parse_examples` arrays of (up to)
    `batch_size` records; every batch has the first one's widths."""
    widths = {}
    records, wheres = [], []

    def parse():
        try:
            arrays = parse_examples(records, features, **widths)
        except RecordError as err:
            raise malformed(err, wheres[err.position]) from err
        for key, group in (("seq_length", SEQUENCE_FEATURES),
                           ("max_predictions", PREDICTION_FEATURES)):
            present = [name for name in group if name in arrays]
            if present:
                widths[key] = arrays[present[0]].shape[1]
        records.clear()
        wheres.clear()
        return arrays

    for path in files:
        for number, (_, data) in enumerate(frames(path)):
            records.append(data)
            wheres.append(f"record {number} of {path}")
            if len(records) == batch_size:
                yield parse()
    if records:
        yield parse()


class RecordIndex:
    """The records of one split: where each is, checked once; `batch(indices)` reads them.

    Safe to share between threads (reads are `os.pread`) and to pickle (file handles reopen)."""

    def __init__(self, files, manifest, where):
        self.files, self.manifest, self.where = list(files), manifest, where
        self._handles, self._opening = {}, threading.Lock()
        file_ids, offsets, lengths, numbers = [], [], [], []
        for file_id, path in enumerate(self.files):
            for number, (offset, data) in enumerate(frames(path)):
                file_ids.append(file_id)
                offsets.append(offset)
                lengths.append(len(data))
                numbers.append(number)
        if not offsets:
            raise UserError("the TFRecord files hold no records", where=where,
                            fix="regenerate the pretraining data from a non-empty corpus")
        self.file_ids = np.asarray(file_ids, dtype=np.int32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.record_numbers = np.asarray(numbers, dtype=np.int64)
        self.seq_length = self.max_predictions = None  # the first record's, set below
        first = self.batch([0])
        self.seq_length = int(first["input_ids"].shape[1])
        self.max_predictions = int(first["masked_lm_positions"].shape[1])
        layout.check_declared_lengths(manifest, (self.seq_length, self.max_predictions),
                                      self.files[0])

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
        try:
            return parse_examples([self._read(i) for i in indices.tolist()], FEATURES,
                                  self.seq_length, self.max_predictions)
        except RecordError as err:
            raise malformed(err, self.describe(indices[err.position])) from err


def open_split(input_dir, split):
    """The `split` ("train" or "heldout") of a pretraining-data directory, indexed and checked."""
    if split not in layout.SPLIT_PATTERNS:
        raise ValueError(f"split must be one of {', '.join(layout.SPLITS)}, not {split!r}")
    if not input_dir:
        raise UserError("no input given", fix="pass --input_dir (a pretraining-data directory)")
    manifest = layout.read_data_manifest(input_dir)
    return RecordIndex(layout.split_files(input_dir, split, required=True), manifest, input_dir)
