"""Google's BERT (google-research/bert `modeling.py` + the MLM head of `run_pretraining.py`) in TF2.

One `tf.Module` holds every weight in a dict keyed by Google's checkpoint names
(`bert/encoder/layer_3/attention/self/query/kernel`, ...), so loading and saving a Google
checkpoint is a lookup, not a mapping. The forward pass uses plain TF ops and computes exactly
what Google's code computes: tanh-approximated GELU, LayerNorm with epsilon 1e-12, an additive
attention mask of -10000, post-LayerNorm residual blocks, dropout at the same four places.

Shapes: B batch, T sequence length, H hidden size, N heads, D = H / N head size, I intermediate
size, V vocab size, P masked positions per sequence.

Variables stay float32; `compute_dtype` (e.g. float16 for mixed precision) is what the matmuls
run in. LayerNorm and softmax always run in float32 and the logits come back as float32.
"""

import math

import numpy as np
import tensorflow as tf

from components.bert.config import LAYER_NORM_EPSILON, BertConfig

MASK_ADDER = -10000.0
# Google's pre-training keeps the next-sentence head; this MLM-only project saves it untouched.
FROZEN_PREFIX = "cls/seq_relationship/"


def google_variable_shapes(config: BertConfig):
    """{Google checkpoint name: shape} for every weight of BertForPreTraining with `config`."""
    H, V = config.hidden_size, config.vocab_size
    I = config.intermediate_size  # noqa: E741 (Google's notation)
    shapes = {
        "bert/embeddings/word_embeddings": [V, H],
        "bert/embeddings/token_type_embeddings": [config.type_vocab_size, H],
        "bert/embeddings/position_embeddings": [config.max_position_embeddings, H],
        "bert/embeddings/LayerNorm/gamma": [H],
        "bert/embeddings/LayerNorm/beta": [H],
    }
    for n in range(config.num_hidden_layers):
        layer = f"bert/encoder/layer_{n}"
        for part in ("query", "key", "value"):
            shapes[f"{layer}/attention/self/{part}/kernel"] = [H, H]
            shapes[f"{layer}/attention/self/{part}/bias"] = [H]
        shapes[f"{layer}/attention/output/dense/kernel"] = [H, H]
        shapes[f"{layer}/attention/output/dense/bias"] = [H]
        shapes[f"{layer}/attention/output/LayerNorm/gamma"] = [H]
        shapes[f"{layer}/attention/output/LayerNorm/beta"] = [H]
        shapes[f"{layer}/intermediate/dense/kernel"] = [H, I]
        shapes[f"{layer}/intermediate/dense/bias"] = [I]
        shapes[f"{layer}/output/dense/kernel"] = [I, H]
        shapes[f"{layer}/output/dense/bias"] = [H]
        shapes[f"{layer}/output/LayerNorm/gamma"] = [H]
        shapes[f"{layer}/output/LayerNorm/beta"] = [H]
    shapes.update({
        "bert/pooler/dense/kernel": [H, H],
        "bert/pooler/dense/bias": [H],
        "cls/predictions/transform/dense/kernel": [H, H],
        "cls/predictions/transform/dense/bias": [H],
        "cls/predictions/transform/LayerNorm/gamma": [H],
        "cls/predictions/transform/LayerNorm/beta": [H],
        "cls/predictions/output_bias": [V],
        "cls/seq_relationship/output_weights": [2, H],
        "cls/seq_relationship/output_bias": [2],
    })
    return shapes


def initial_value(name, shape, config: BertConfig, seed):
    """Google's initialisers: truncated normal(initializer_range) for matrices, LN gamma = 1,
    everything else (biases, LN beta) = 0. `seed` is a stateless seed, shape [2]."""
    if name.endswith("/gamma"):
        return tf.ones(shape, tf.float32)
    if name.endswith(("/bias", "/beta", "output_bias")):
        return tf.zeros(shape, tf.float32)
    return tf.random.stateless_truncated_normal(shape, seed, stddev=config.initializer_range)


def gelu(x):
    """GELU, tanh approximation: Google's `modeling.gelu` (transformers calls it `gelu_new`)."""
    cdf = 0.5 * (1.0 + tf.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * tf.pow(x, 3))))
    return x * cdf


ACTIVATION_FNS = {"gelu": gelu, "relu": tf.nn.relu, "tanh": tf.tanh, "linear": tf.identity}


class BertForPreTraining(tf.Module):
    """BERT encoder + pooler + MLM head + (frozen) next-sentence weights, Google's names.

    `model.variables_by_name` maps each Google checkpoint name to its `tf.Variable`;
    `model.trainable_variables` is everything except `cls/seq_relationship/*`.
    """

    def __init__(self, config: BertConfig, seed=12345, compute_dtype=tf.float32):
        super().__init__(name="bert_for_pretraining")
        self.config = config
        self.compute_dtype = tf.as_dtype(compute_dtype)
        self.activation = ACTIVATION_FNS[config.hidden_act]
        self.variables_by_name = {}
        for index, (name, shape) in enumerate(google_variable_shapes(config).items()):
            value = initial_value(name, shape, config, seed=[seed, index])
            self.variables_by_name[name] = tf.Variable(
                value, name=name, trainable=not name.startswith(FROZEN_PREFIX))

    # -- weights --------------------------------------------------------------------------------

    def _w(self, name):
        """A weight cast to the compute dtype (a no-op in float32)."""
        return tf.cast(self.variables_by_name[name], self.compute_dtype)

    def _dense(self, x, prefix):
        # x [..., in] -> [..., out]
        return tf.matmul(x, self._w(f"{prefix}/kernel")) + self._w(f"{prefix}/bias")

    def _layer_norm(self, x, prefix):
        # Google's tf.contrib.layers.layer_norm over the last axis, epsilon 1e-12, in float32.
        x32 = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
        gamma = self.variables_by_name[f"{prefix}/gamma"]
        beta = self.variables_by_name[f"{prefix}/beta"]
        y = (x32 - mean) * tf.math.rsqrt(variance + LAYER_NORM_EPSILON) * gamma + beta
        return tf.cast(y, self.compute_dtype)

    @staticmethod
    def _dropout(x, rate, training, seed, site):
        if not training or rate == 0.0:
            return x
        if seed is None:
            return tf.nn.dropout(x, rate=rate)
        site_seed = tf.random.experimental.stateless_fold_in(seed, site)
        return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=site_seed)

    # -- forward --------------------------------------------------------------------------------

    def sequence_output(self, input_ids, input_mask, segment_ids, training=False,
                        dropout_seed=None):
        """The encoder's last layer, [B, T, H] in the compute dtype.

        input_ids, input_mask, segment_ids: int [B, T]. dropout_seed: optional int [2]; with it
        dropout is stateless (same seed, same masks), which makes resumed training reproducible.
        """
        c = self.config
        B, T = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
        H, N, D = c.hidden_size, c.num_attention_heads, c.head_size
        p_hidden, p_attn = c.hidden_dropout_prob, c.attention_probs_dropout_prob
        site = iter(range(1, 1 << 20))  # a distinct dropout seed per dropout call

        emb = "bert/embeddings"
        x = tf.gather(self._w(f"{emb}/word_embeddings"), input_ids)            # [B, T, H]
        x += tf.gather(self._w(f"{emb}/token_type_embeddings"), segment_ids)   # [B, T, H]
        x += self._w(f"{emb}/position_embeddings")[tf.newaxis, :T]            # [1, T, H]
        x = self._layer_norm(x, f"{emb}/LayerNorm")
        x = self._dropout(x, p_hidden, training, dropout_seed, next(site))

        # Google's create_attention_mask_from_input_mask: the mask depends on the key only.
        key_mask = tf.cast(input_mask, self.compute_dtype)[:, tf.newaxis, tf.newaxis, :]
        mask_adder = (1.0 - key_mask) * MASK_ADDER                             # [B, 1, 1, T]
        scale = 1.0 / math.sqrt(D)

        def split_heads(t):  # [B, T, H] -> [B, N, T, D]
            return tf.transpose(tf.reshape(t, [B, T, N, D]), [0, 2, 1, 3])

        for n in range(c.num_hidden_layers):
            layer = f"bert/encoder/layer_{n}"
            q = split_heads(self._dense(x, f"{layer}/attention/self/query"))    # [B, N, T, D]
            k = split_heads(self._dense(x, f"{layer}/attention/self/key"))      # [B, N, T, D]
            v = split_heads(self._dense(x, f"{layer}/attention/self/value"))    # [B, N, T, D]
            scores = tf.matmul(q, k, transpose_b=True) * scale + mask_adder      # [B, N, T, T]
            probs = tf.cast(tf.nn.softmax(tf.cast(scores, tf.float32)), self.compute_dtype)
            probs = self._dropout(probs, p_attn, training, dropout_seed, next(site))
            context = tf.matmul(probs, v)                                        # [B, N, T, D]
            context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [B, T, H])  # [B, T, H]

            attn = self._dense(context, f"{layer}/attention/output/dense")
            attn = self._dropout(attn, p_hidden, training, dropout_seed, next(site))
            attn = self._layer_norm(attn + x, f"{layer}/attention/output/LayerNorm")

            h = self.activation(self._dense(attn, f"{layer}/intermediate/dense"))  # [B, T, I]
            h = self._dense(h, f"{layer}/output/dense")                              # [B, T, H]
            h = self._dropout(h, p_hidden, training, dropout_seed, next(site))
            x = self._layer_norm(h + attn, f"{layer}/output/LayerNorm")
        return x

    def pooled_output(self, sequence_output):
        """Google's pooler: tanh(dense(first token)), [B, H]."""
        return tf.tanh(self._dense(sequence_output[:, 0], "bert/pooler/dense"))

    def mlm_logits(self, sequence_output, masked_lm_positions=None):
        """MLM logits, float32: [B, P, V] at `masked_lm_positions` (int [B, P]), else [B, T, V].

        Gathering first (Google's gather_indexes) runs the V-way projection on P positions only.
        """
        x = sequence_output                                                      # [B, T, H]
        if masked_lm_positions is not None:
            x = tf.gather(x, masked_lm_positions, batch_dims=1)                  # [B, P, H]
        x = self.activation(self._dense(x, "cls/predictions/transform/dense"))
        x = self._layer_norm(x, "cls/predictions/transform/LayerNorm")
        # Output embedding tied to the input embedding, plus a per-token bias.
        logits = tf.matmul(x, self._w("bert/embeddings/word_embeddings"), transpose_b=True)
        logits = tf.cast(logits, tf.float32)
        return logits + self.variables_by_name["cls/predictions/output_bias"]  # [B, P|T, V]

    def __call__(self, input_ids, input_mask, segment_ids, masked_lm_positions=None,
                 training=False, dropout_seed=None):
        """MLM logits [B, P, V] (or [B, T, V] without positions), float32."""
        x = self.sequence_output(input_ids, input_mask, segment_ids, training=training,
                                 dropout_seed=dropout_seed)
        return self.mlm_logits(x, masked_lm_positions)
