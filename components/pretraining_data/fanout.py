"""How the pipeline cuts the corpus for the pretraining-data fan-out.

`create_pretraining_data(shard_index=i, num_shards=N, shard_size_mb=S)` processes the i-th of N
contiguous blocks of the corpus's S-MB byte ranges, and `merge_pretraining_data` joins the N
outputs into exactly what one run with the same S would write. Here we choose S so that every one
of the N pods gets work (a small corpus would otherwise fit in one 0.5 MB range).
"""

import os

from components.common.artifacts import read_manifest
from components.common.errors import UserError

MAX_SHARD_MB = 0.5  # the byte range one worker process holds at a time
MB = 1 << 20


def plan_fanout(corpus_dir, num_shards):
    """[{"shard_index": i, "num_shards": N, "shard_size_mb": S} for i < N] for a corpus."""
    if num_shards < 1:
        raise UserError(f"num_shards={num_shards} must be at least 1", where="num_shards",
                        fix="pass a positive number of shards")
    manifest = read_manifest(corpus_dir, kind="corpus")
    total = sum(os.path.getsize(os.path.join(corpus_dir, s["file"])) for s in manifest["shards"])
    # At least a few KB per range, so a tiny corpus is not cut into more parts than passages.
    num_shards = max(1, min(num_shards, total // 4096))
    shard_size_mb = min(MAX_SHARD_MB, total / num_shards / MB)
    return [{"shard_index": i, "num_shards": num_shards, "shard_size_mb": shard_size_mb}
            for i in range(num_shards)]
