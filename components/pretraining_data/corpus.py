"""Input side: which files, split into byte-range shards, read as passages, held out by hash.

A shard is a byte range of one input file; it owns the lines that *start* inside the range (the
Hadoop text-split rule), so shard boundaries depend only on file sizes and `shard_bytes`: any
subset of shards can be processed anywhere (a worker process, a KFP pod) without reading the
rest, and each shard's random seed comes from `random_seed` and the shard's (file, index).
"""

import dataclasses
import glob
import hashlib
import os

from components.common.artifacts import read_manifest
from components.common.errors import UserError


@dataclasses.dataclass(frozen=True)
class Shard:
    file_index: int
    index_in_file: int
    path: str
    start: int
    end: int

    @property
    def name(self):
        return f"{self.file_index:05d}-{self.index_in_file:05d}"


def resolve_input_files(input_file):
    """Expand `--input_file`: corpus directories, files, globs; comma-separated like Google's."""
    items = [input_file] if isinstance(input_file, str) else list(input_file or ())
    patterns = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
    if not patterns:
        raise UserError("no input given", where="--input_file",
                        fix="pass a corpus directory or text files (one passage per line)")
    files = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            read_manifest(pattern, kind="corpus")
            parts = sorted(glob.glob(os.path.join(pattern, "part-*.txt")))
            if not parts:
                raise UserError("corpus directory has no part-*.txt shards", where=pattern,
                                fix="rerun the extract stage")
            files += parts
        else:
            matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
            if not matches:
                raise UserError("input file not found", where=f"--input_file {pattern}",
                                fix="check the path or glob")
            files += matches
    return files


def plan_shards(files, shard_bytes):
    """All shards of the input, in order."""
    shards = []
    for file_index, path in enumerate(files):
        size = os.path.getsize(path)
        for index in range(-(-size // shard_bytes)):
            shards.append(Shard(file_index, index, path, index * shard_bytes,
                                min(size, (index + 1) * shard_bytes)))
    return shards


def select_part(shards, part_index, num_parts):
    """The contiguous block of shards that part `part_index` of `num_parts` processes."""
    count = len(shards)
    return shards[part_index * count // num_parts:(part_index + 1) * count // num_parts]


def read_passages(shard, invalid_lines=None):
    """The non-empty passages (lines, stripped) that start inside the shard's byte range.

    A line with invalid UTF-8 is a UserError, or, given a list `invalid_lines`, left out and
    described there (byte offset) for the bad-row count.
    """
    with open(shard.path, "rb") as f:
        if shard.start > 0:
            f.seek(shard.start - 1)
            f.readline()
        begin = f.tell()
        if begin >= shard.end:
            return []
        data = f.read(shard.end - begin)
        if not data.endswith(b"\n"):
            data += f.readline()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        if invalid_lines is None:
            raise UserError(f"invalid UTF-8 at byte offset {begin + err.start}",
                            where=shard.path, fix="convert the file to UTF-8 or clean it with "
                            "components.extract") from err
        return _decodable_lines(data, begin, invalid_lines)
    return [line for line in (raw.strip() for raw in text.split("\n")) if line]


def _decodable_lines(data, begin, invalid_lines):
    passages, offset = [], begin
    for raw in data.split(b"\n"):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as err:
            invalid_lines.append(f"invalid UTF-8 at byte offset {offset + err.start}")
            line = ""
        if line:
            passages.append(line)
        offset += len(raw) + 1
    return passages


def is_heldout(passage, heldout_fraction):
    """Stable split by a hash of the passage text: the same passage is always on the same side."""
    digest = hashlib.blake2b(passage.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < heldout_fraction * 2.0 ** 64
