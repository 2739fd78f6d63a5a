"""Write passages into `part-NNNNN.txt` shards: UTF-8, one passage per line, sha256 per shard.

Two ways to cut shards, both streaming (the total is unknown until the source is exhausted):
- `rows_per_shard`: fill a shard, then start the next (keeps the source order);
- `num_shards`: deal passages round-robin over a fixed number of shards, so a downstream
  `dsl.ParallelFor` gets that many equally sized pieces.
"""

import hashlib
import os

SHARD_NAME = "part-{:05d}.txt"


class _Shard:
    def __init__(self, directory, index):
        self.name = SHARD_NAME.format(index)
        self.path = os.path.join(directory, self.name)
        self.file = open(self.path, "wb")
        self.digest = hashlib.sha256()
        self.passages = 0
        self.characters = 0
        self.bytes = 0

    def write(self, passage):
        data = (passage + "\n").encode("utf-8")
        self.file.write(data)
        self.digest.update(data)
        self.passages += 1
        self.characters += len(passage)
        self.bytes += len(data)

    def close(self):
        self.file.close()
        return {"file": self.name, "passages": self.passages, "characters": self.characters,
                "bytes": self.bytes, "sha256": self.digest.hexdigest()}


class ShardWriter:
    """Context manager; `write(passage)` per passage, `shards` holds the descriptions on exit."""

    def __init__(self, directory, rows_per_shard, num_shards):
        self.directory = directory
        self.rows_per_shard = rows_per_shard
        self.num_shards = num_shards
        self.open_shards = []
        self.shards = []
        self.written = 0

    def __enter__(self):
        if self.num_shards:
            self.open_shards = [_Shard(self.directory, i) for i in range(self.num_shards)]
        return self

    def write(self, passage):
        if self.num_shards:
            shard = self.open_shards[self.written % self.num_shards]
        else:
            if not self.open_shards or self.open_shards[-1].passages >= self.rows_per_shard:
                self._close_all()
                self.open_shards = [_Shard(self.directory, len(self.shards))]
            shard = self.open_shards[-1]
        shard.write(passage)
        self.written += 1

    def _close_all(self):
        for shard in self.open_shards:
            description = shard.close()
            if description["passages"]:
                self.shards.append(description)
            else:
                # Fewer passages than --num_shards: an empty shard would be an empty task later.
                os.remove(shard.path)
        self.open_shards = []

    def __exit__(self, *exc):
        self._close_all()
        return False
