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
    # Compared as int64: on a GPU TensorFlow runs int32 `Equal` on the host, which would copy
    # the predictions off the device mid-step (tensorflow/tensorflow#34071).
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int64)
    correct = tf.cast(tf.equal(predictions, tf.cast(masked_lm_ids, tf.int64)), tf.float32)
    return (tf.reduce_sum(weights * nll), tf.reduce_sum(weights),
            tf.reduce_sum(weights * correct))


def masked_lm_loss(weighted_nll, weight_sum):
    """Google's training loss from the sums."""
    return weighted_nll / (weight_sum + LOSS_EPSILON)
