"""Google's run_pretraining schema: the features of every pretraining record.

A record is a `tf.train.Example` whose features are int64 lists, `max_seq_length` long
(SEQUENCE_FEATURES) or `max_predictions_per_seq` long (PREDICTION_FEATURES), except
`masked_lm_weights`, a float list (1.0 for a real prediction, 0.0 for padding). The writer also
stores `next_sentence_labels` (always 0, as we make no sentence pairs), which no reader uses.
"""

SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids")
PREDICTION_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")
FEATURES = SEQUENCE_FEATURES + PREDICTION_FEATURES
FLOAT_FEATURES = ("masked_lm_weights",)
UNREAD_FEATURES = ("next_sentence_labels",)


def is_float(name):
    """Whether feature `name` is a float list (else an int64 list)."""
    return name in FLOAT_FEATURES


def feature_widths(max_seq_length, max_predictions_per_seq):
    """{feature: how many values each record has of it} for FEATURES."""
    return {name: max_seq_length if name in SEQUENCE_FEATURES else max_predictions_per_seq
            for name in FEATURES}
