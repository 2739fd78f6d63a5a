"""Google's optimizer math: our train step against an independent NumPy computation."""

import numpy as np
import pytest
import tensorflow as tf

from components.bert.config import BertConfig
from components.bert.model import BertForPreTraining
from components.train.optimizer import AdamWeightDecay, learning_rate, uses_weight_decay
from components.train.step import make_train_step, trainable_by_name

INIT_LR, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS = 0.05, 100, 10


def numpy_learning_rate(step):
    """google-research/bert optimization.py, written out by hand."""
    decayed = INIT_LR * (1.0 - min(step, NUM_TRAIN_STEPS) / NUM_TRAIN_STEPS)
    return INIT_LR * step / NUM_WARMUP_STEPS if step < NUM_WARMUP_STEPS else decayed


@pytest.mark.parametrize("step", [0, 1, 9, 10, 11, 55, 99, 100, 150])
def test_learning_rate_is_warmup_then_linear_decay_to_zero(step):
    got = float(learning_rate(tf.constant(step, tf.int64), INIT_LR, NUM_TRAIN_STEPS,
                              NUM_WARMUP_STEPS))
    assert got == pytest.approx(numpy_learning_rate(step), rel=1e-6, abs=1e-12)


def test_weight_decay_exclusions_are_googles():
    assert not uses_weight_decay("bert/embeddings/LayerNorm/gamma")
    assert not uses_weight_decay("bert/encoder/layer_0/output/LayerNorm/beta")
    assert not uses_weight_decay("bert/encoder/layer_0/attention/self/query/bias")
    assert not uses_weight_decay("cls/predictions/output_bias")
    assert uses_weight_decay("bert/embeddings/word_embeddings")
    assert uses_weight_decay("bert/encoder/layer_1/intermediate/dense/kernel")
    assert not uses_weight_decay("bert/embeddings/word_embeddings", weight_decay_rate=0.0)


def test_one_step_equals_numpy_adamw_without_bias_correction():
    config = BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, max_position_embeddings=16,
                        type_vocab_size=2)
    model = BertForPreTraining(config, seed=3)
    variables = trainable_by_name(model)
    optimizer = AdamWeightDecay(variables)
    step = tf.Variable(3, dtype=tf.int64)  # inside the warmup: lr = INIT_LR * 3 / 10
    rng = np.random.default_rng(0)
    # Non-zero moments from "earlier steps", so both moment formulas matter.
    for m, v in zip(optimizer.m, optimizer.v, strict=True):
        m.assign(rng.normal(0, 1e-2, m.shape).astype(np.float32))
        v.assign(rng.uniform(0, 1e-4, v.shape).astype(np.float32))
    batch = {
        "input_ids": tf.constant(rng.integers(5, 40, (4, 16)), tf.int32),
        "input_mask": tf.constant(np.ones((4, 16)), tf.int32),
        "segment_ids": tf.constant(np.zeros((4, 16)), tf.int32),
        "masked_lm_positions": tf.constant(rng.integers(0, 16, (4, 3)), tf.int32),
        "masked_lm_ids": tf.constant(rng.integers(5, 40, (4, 3)), tf.int32),
        "masked_lm_weights": tf.constant([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 0]],
                                         tf.float32),
    }
    # The raw gradients of Google's loss, Σ(w·nll) / (Σw + 1e-5), taken straight from TF.
    with tf.GradientTape() as tape:
        logits = model(batch["input_ids"], batch["input_mask"], batch["segment_ids"],
                       masked_lm_positions=batch["masked_lm_positions"])
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(batch["masked_lm_ids"], logits)
        w = batch["masked_lm_weights"]
        loss = tf.reduce_sum(w * nll) / (tf.reduce_sum(w) + 1e-5)
    grads = [tf.convert_to_tensor(g).numpy().astype(np.float64)
             for g in tape.gradient(loss, list(variables.values()))]
    before = {n: v.numpy().astype(np.float64) for n, v in variables.items()}
    m0 = [m.numpy().astype(np.float64) for m in optimizer.m]
    v0 = [v.numpy().astype(np.float64) for v in optimizer.v]

    # Google's update in NumPy: global-norm clip 1.0, Adam moments without bias correction,
    # weight decay 0.01 added to the update except LayerNorm / bias, warmup learning rate.
    norm = np.sqrt(sum((g ** 2).sum() for g in grads))
    assert norm > 1.0, "the clip must be active for this test to check it"
    grads = [g * 1.0 / max(norm, 1.0) for g in grads]
    lr = INIT_LR * 3 / NUM_WARMUP_STEPS
    expected = {}
    for (name, value), g, m, v in zip(before.items(), grads, m0, v0, strict=True):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        update = m / (np.sqrt(v) + 1e-6)
        if not any(word in name for word in ("LayerNorm", "layer_norm", "bias")):
            update += 0.01 * value
        expected[name] = value - lr * update

    train_step = make_train_step(tf.distribute.get_strategy(), model, optimizer, step, INIT_LR,
                                 NUM_TRAIN_STEPS, NUM_WARMUP_STEPS, random_seed=1)
    out = train_step(batch)
    assert int(step.numpy()) == 4
    assert float(out["learning_rate"]) == pytest.approx(lr, rel=1e-6)
    assert float(out["grad_norm"]) == pytest.approx(norm, rel=1e-5)
    for name, variable in variables.items():
        np.testing.assert_allclose(variable.numpy(), expected[name], rtol=0, atol=1e-6,
                                   err_msg=name)
    # The pooler feeds only the next-sentence head: no gradient, so Google leaves it alone.
    pooler = model.variables_by_name["bert/pooler/dense/kernel"]
    assert "bert/pooler/dense/kernel" not in variables
    assert pooler.trainable
