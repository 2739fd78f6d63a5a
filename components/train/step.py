"""The training step: forward, Google's loss, gradients, all-reduce, clip, AdamW, step + 1.

Written once for one device and for `tf.distribute` strategies: each replica computes its share
of the *global* loss Σ(w·nll) / (Σw over all replicas + 1e-5), so summed gradients equal those
of one device on the global batch; the clipped update is applied in cross-replica context.
With float16, a dynamic loss scale (start 2^15, halved on overflow, doubled after 2000 clean
steps) protects small gradients; an overflowing step leaves the weights unchanged.
"""

import tensorflow as tf

from components.mlm.loss import LOSS_EPSILON, masked_lm_sums
from components.train.optimizer import CLIP_NORM, learning_rate

SUM = tf.distribute.ReduceOp.SUM
INITIAL_LOSS_SCALE = 2.0**15
LOSS_SCALE_GROWTH_INTERVAL = 2000


class LossScale(tf.Module):
    """Dynamic loss scale state (checkpointed with the optimizer)."""

    def __init__(self):
        super().__init__(name="loss_scale")
        self.scale = tf.Variable(INITIAL_LOSS_SCALE, trainable=False, dtype=tf.float32)
        self.good_steps = tf.Variable(0, trainable=False, dtype=tf.int64)

    def update(self, finite):
        grow = tf.logical_and(finite, self.good_steps + 1 >= LOSS_SCALE_GROWTH_INTERVAL)
        new_scale = tf.where(finite, tf.where(grow, self.scale * 2.0, self.scale),
                             tf.maximum(self.scale / 2.0, 1.0))
        new_good = tf.where(tf.logical_and(finite, tf.logical_not(grow)),
                            self.good_steps + 1, tf.zeros_like(self.good_steps))
        return tf.group(self.scale.assign(new_scale), self.good_steps.assign(new_good))


# MLM only: the pooler feeds just the next-sentence head, so it gets no gradient, and Google's
# optimizer skips variables without one (no weight decay either): they stay as loaded.
UNTRAINED_PREFIXES = ("bert/pooler/",)


def trainable_by_name(model):
    """{Google name: variable} of what MLM training updates, in the model's order."""
    return {name: v for name, v in model.variables_by_name.items()
            if v.trainable and not name.startswith(UNTRAINED_PREFIXES)}


def make_train_step(strategy, model, optimizer, step, init_lr, num_train_steps,
                    num_warmup_steps, random_seed, loss_scale=None, jit_compile=False):
    """A tf.function(batch) → dict of global sums (weighted_nll, weight, correct, grad_norm, lr).

    `batch` is what `feed.batch_placer(strategy)` returns (a dict; per-replica values on several
    devices). Dropout is stateless, seeded by (random_seed, step, replica), so a resumed run
    draws the same masks as an unbroken one.
    """
    variables = list(trainable_by_name(model).values())
    replicas = strategy.num_replicas_in_sync

    def forward_backward(batch, dropout_seed, weight_total):
        with tf.GradientTape() as tape:
            logits = model(batch["input_ids"], batch["input_mask"], batch["segment_ids"],
                           masked_lm_positions=batch["masked_lm_positions"], training=True,
                           dropout_seed=dropout_seed)                           # [B, P, V]
            nll, weight, correct = masked_lm_sums(logits, batch["masked_lm_ids"],
                                                  batch["masked_lm_weights"])
            loss = nll / (weight_total + LOSS_EPSILON)   # this replica's share of the global loss
            if loss_scale is not None:
                loss *= loss_scale.scale
        grads = tape.gradient(loss, variables)
        # Dense: the tied embedding gets a dense gradient anyway, and Google's update is dense.
        grads = [tf.convert_to_tensor(g) for g in grads]
        if loss_scale is not None:
            grads = [g / loss_scale.scale for g in grads]
        return grads, nll, weight, correct

    # Under several replicas only the per-replica math is compiled (collectives stay outside).
    if jit_compile and replicas > 1:
        forward_backward = tf.function(forward_backward, jit_compile=True)

    def apply(strategy, grads, finite):
        if finite is not None:
            # Every replica computed `finite` from the same all-reduced gradients, so any one
            # replica's value is the global one; merge_call hands it over per replica, and the
            # loss-scale update below needs a plain tensor.
            finite = strategy.experimental_local_results(finite)[0]
        lr = learning_rate(step, init_lr, num_train_steps, num_warmup_steps)
        updates = [optimizer.apply_gradients(variables, grads, lr, apply=finite)]
        if loss_scale is not None:
            updates.append(loss_scale.update(finite))
        with tf.control_dependencies(updates):
            step.assign_add(1)
        return lr

    def replica_step(batch):
        ctx = tf.distribute.get_replica_context()
        seed = tf.stack([tf.cast(random_seed, tf.int64),
                         step * replicas + tf.cast(ctx.replica_id_in_sync_group, tf.int64)])
        weight_total = ctx.all_reduce(SUM, tf.reduce_sum(batch["masked_lm_weights"]))
        grads, nll, weight, correct = forward_backward(batch, seed, weight_total)
        grads = ctx.all_reduce(SUM, grads)
        finite = None
        if loss_scale is not None:
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
        grads, grad_norm = tf.clip_by_global_norm(grads, CLIP_NORM)
        lr = ctx.merge_call(apply, args=(grads, finite))
        return {"weighted_nll": nll, "weight": weight, "correct": correct,
                "grad_norm": grad_norm, "learning_rate": lr}

    def train_step(batch):
        out = strategy.run(replica_step, args=(batch,))
        sums = {k: strategy.reduce(SUM, out[k], axis=None)
                for k in ("weighted_nll", "weight", "correct")}
        for k in ("grad_norm", "learning_rate"):  # identical on every replica
            sums[k] = strategy.experimental_local_results(out[k])[0]
        return sums

    return tf.function(train_step, jit_compile=bool(jit_compile and replicas == 1))
