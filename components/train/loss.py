"""Google's masked-LM loss and accuracy (`run_pretraining.get_masked_lm_output` / `metric_fn`).

Both are weighted by `masked_lm_weights` (1 for a real prediction, 0 for padding):
loss = Σ(w·nll) / (Σw + 1e-5); accuracy = Σ(w·[argmax = label]) / Σw. The sums are returned
separately so that batches, replicas and whole evaluation runs combine exactly.
"""

import tensorflow as tf

LOSS_EPSILON = 1e-5


def masked_lm_sums(logits, masked_lm_ids, masked_lm_weights):
    """(Σ w·nll, Σ w, Σ w·correct) as float32 scalars.

    logits float32 [B, P, V]; masked_lm_ids int [B, P]; masked_lm_weights float [B, P].
    """
    weights = tf.cast(masked_lm_weights, tf.float32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=masked_lm_ids, logits=logits)
    predictions = tf.argmax(logits, axis=-1, output_type=masked_lm_ids.dtype)
    correct = tf.cast(tf.equal(predictions, masked_lm_ids), tf.float32)
    return (tf.reduce_sum(weights * nll), tf.reduce_sum(weights),
            tf.reduce_sum(weights * correct))


def masked_lm_loss(weighted_nll, weight_sum):
    """Google's training loss from the sums."""
    return weighted_nll / (weight_sum + LOSS_EPSILON)
