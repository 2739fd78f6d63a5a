"""Google's BERT optimizer (`optimization.py` of google-research/bert), exactly, in plain TF.

- learning rate: linear warmup `init_lr * step / num_warmup_steps` while step < warmup, else
  `tf.train.polynomial_decay(init_lr, step, num_train_steps, end=0, power=1)`, i.e.
  `init_lr * (1 - min(step, num_train_steps) / num_train_steps)`; `step` is the global step
  *before* the update, so the very first update has learning rate 0 when warming up.
- gradients clipped to global norm 1.0.
- AdamWeightDecayOptimizer: beta_1 0.9, beta_2 0.999, epsilon 1e-6, **no bias correction**,
  weight decay 0.01 added to the update (decoupled from the moments) except for variables whose
  name contains `LayerNorm`, `layer_norm` or `bias`.

The slots are ordinary variables of this module, so `tf.train.Checkpoint` saves and restores
them with the step; under a `tf.distribute` strategy they mirror the model's variables.
"""

import re

import tensorflow as tf

CLIP_NORM = 1.0
EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


def learning_rate(step, init_lr, num_train_steps, num_warmup_steps):
    """Google's schedule at integer `step` (a scalar tensor), float32."""
    step_f = tf.cast(step, tf.float32)
    decay_steps = float(num_train_steps)
    decayed = init_lr * (1.0 - tf.minimum(step_f, decay_steps) / decay_steps)
    if not num_warmup_steps:
        return decayed
    warmup = init_lr * step_f / float(num_warmup_steps)
    is_warmup = tf.cast(tf.cast(step, tf.int64) < num_warmup_steps, tf.float32)
    return (1.0 - is_warmup) * decayed + is_warmup * warmup


def uses_weight_decay(name, weight_decay_rate=0.01, exclude=EXCLUDE_FROM_WEIGHT_DECAY):
    """Google's `_do_use_weight_decay` on a variable name."""
    if not weight_decay_rate:
        return False
    return not any(re.search(pattern, name) for pattern in exclude)


class AdamWeightDecay(tf.Module):
    """Adam with decoupled weight decay and no bias correction, over named float32 variables.

    `variables_by_name`: an ordered {Google name: tf.Variable}; the order fixes the slot order.
    Create it under the same distribution strategy scope as the variables.
    """

    def __init__(self, variables_by_name, weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-6, exclude_from_weight_decay=EXCLUDE_FROM_WEIGHT_DECAY):
        super().__init__(name="adam_weight_decay")
        self.names = list(variables_by_name)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.weight_decay_rate = weight_decay_rate
        self.decays = [uses_weight_decay(n, weight_decay_rate, exclude_from_weight_decay)
                       for n in self.names]
        # Lists, not dicts: checkpoint keys stay short and the order is the model's.
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"{n}/adam_m")
                  for n, v in variables_by_name.items()]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"{n}/adam_v")
                  for n, v in variables_by_name.items()]

    def _update(self, var, m, v, grad, lr, decay, apply):
        next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
        next_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
        update = next_m / (tf.sqrt(next_v) + self.epsilon)
        if decay:
            update += self.weight_decay_rate * var
        next_var = var - lr * update
        if apply is not None:  # a skipped float16 step (overflow) leaves everything as it was
            next_m, next_v = tf.where(apply, next_m, m), tf.where(apply, next_v, v)
            next_var = tf.where(apply, next_var, var)
        return tf.group(var.assign(next_var), m.assign(next_m), v.assign(next_v))

    def apply_gradients(self, variables, grads, lr, apply=None):
        """Apply one update in cross-replica context (or without a strategy).

        `grads` are the already all-reduced, clipped gradients, dense, in `variables`' order.
        `apply` is an optional boolean scalar: False skips the update (loss-scale overflow).
        """
        strategy = tf.distribute.get_strategy()
        updates = []
        for var, m, v, grad, decay in zip(variables, self.m, self.v, grads, self.decays,
                                          strict=True):
            updates.append(strategy.extended.update(
                var, self._update, args=(m, v, grad, lr, decay, apply), group=True))
        return tf.group(updates)

