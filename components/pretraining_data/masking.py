"""Google's `create_masked_lm_predictions`, vectorised over a batch of rows with NumPy.

Per row, as in Google's code: candidate groups (a token plus the tokens that continue its word)
are shuffled; `num_to_predict = min(max_predictions_per_seq, max(1, round(len(tokens) *
masked_lm_prob)))` with `len(tokens)` counting `[CLS]` and `[SEP]`; groups are taken in shuffled
order and a group that would overflow `num_to_predict` is skipped (never cut); each chosen token
becomes `[MASK]` 80 %, stays itself 10 %, becomes a uniformly random vocab id 10 %; predictions
are sorted by position and labelled with the original ids. The row-by-row loop of Google's code
becomes one pass over shuffled group ranks for all rows at once.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class MaskedRows:
    input_ids: np.ndarray  # int32 [rows, max_seq_length], after masking
    masked_lm_positions: np.ndarray  # int32 [rows, max_predictions_per_seq]
    masked_lm_ids: np.ndarray  # int32 [rows, max_predictions_per_seq]: original ids
    masked_lm_weights: np.ndarray  # float32 [rows, max_predictions_per_seq]
    replaced_by_mask: int
    kept_original: int
    replaced_by_random: int


def num_to_predict(real_length, masked_lm_prob, max_predictions_per_seq):
    """Google's count: round half to even like Python's round()."""
    wanted = np.rint(real_length.astype(np.float64) * masked_lm_prob).astype(np.int64)
    return np.minimum(max_predictions_per_seq, np.maximum(1, wanted))


def group_ids(candidate, continues_word):
    """Whole-word groups: (group index of each token, counted over all rows, -1 for
    non-candidates; each row's first group index; each row's group count)."""
    previous_candidate = np.zeros_like(candidate)
    previous_candidate[:, 1:] = candidate[:, :-1]
    starts = candidate & ~(continues_word & previous_candidate)
    running = np.cumsum(starts.ravel(), dtype=np.int32).reshape(starts.shape)
    group_count = starts.sum(axis=1)
    first_group = running[:, -1] - group_count
    return np.where(candidate, running - 1, -1), first_group, group_count


def choose_tokens(candidate, continues_word, wanted, rng):
    """Bool [rows, max_seq_length]: the tokens Google's greedy group selection picks."""
    rows = candidate.shape[0]
    gid, first_group, group_count = group_ids(candidate, continues_word)
    max_groups = int(group_count.max()) if rows else 0
    if max_groups == 0:
        return np.zeros_like(candidate)
    sizes = np.bincount(gid[candidate], minlength=int(first_group[-1] + group_count[-1]))
    slot = np.arange(max_groups)[None, :]
    keys = rng.random((rows, max_groups), dtype=np.float32)
    keys[slot >= group_count[:, None]] = 2.0
    order = np.argsort(keys, axis=1)
    in_row = order < group_count[:, None]
    sorted_groups = np.where(in_row, first_group[:, None] + order, 0)
    sorted_sizes = np.where(in_row, sizes[sorted_groups], 0)
    taken_sorted = np.zeros((rows, max_groups), dtype=bool)
    count = np.zeros(rows, dtype=np.int64)
    active = np.arange(rows)
    for rank in range(max_groups):
        if rank % 8 == 0:
            # Rows that are full or out of groups drop out, so the loop's cost follows the rows
            # still choosing, not the longest row.
            active = active[(count[active] < wanted[active]) & (group_count[active] > rank)]
            if not len(active):
                break
        size = sorted_sizes[active, rank]
        take = (size > 0) & (count[active] + size <= wanted[active])
        taken_sorted[active, rank] = take
        count[active] += np.where(take, size, 0)
    taken = np.zeros(len(sizes), dtype=bool)
    taken[sorted_groups[taken_sorted]] = True
    return candidate & taken[np.maximum(gid, 0)]


def mask_rows(rows, masked_lm_prob, max_predictions_per_seq, vocab_size, mask_id, rng):
    """Apply Google's masking to a batch of `instances.Rows`."""
    input_ids = rows.input_ids
    count = input_ids.shape[0]
    wanted = num_to_predict(rows.real_length, masked_lm_prob, max_predictions_per_seq)
    chosen = choose_tokens(rows.candidate, rows.continues_word, wanted, rng)
    row_of, position = np.nonzero(chosen)
    per_row = chosen.sum(axis=1)
    rank = np.arange(len(row_of)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    original = input_ids[row_of, position]
    draw = rng.random(len(row_of))
    random_ids = rng.integers(0, vocab_size, len(row_of), dtype=np.int32)
    replaced = np.where(draw < 0.8, mask_id, np.where(draw < 0.9, original, random_ids))
    masked_input = input_ids.copy()
    masked_input[row_of, position] = replaced
    shape = (count, max_predictions_per_seq)
    positions = np.zeros(shape, dtype=np.int32)
    label_ids = np.zeros(shape, dtype=np.int32)
    weights = np.zeros(shape, dtype=np.float32)
    positions[row_of, rank] = position
    label_ids[row_of, rank] = original
    weights[row_of, rank] = 1.0
    return MaskedRows(masked_input, positions, label_ids, weights,
                      replaced_by_mask=int((draw < 0.8).sum()),
                      kept_original=int(((draw >= 0.8) & (draw < 0.9)).sum()),
                      replaced_by_random=int((draw >= 0.9).sum()))
