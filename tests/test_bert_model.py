"""The TF model computes what Google's BERT computes: checked against transformers' PyTorch BERT.

The torch weights are set module by module here, independently of the converter's name mapping,
so this test checks the forward pass alone.
"""

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers

from components.bert.config import BertConfig
from components.bert.model import BertForPreTraining, gelu, google_variable_shapes
from tests.helpers_bert import padded_batch, randomize_weights, tiny_config


@pytest.fixture(scope="module")
def config():
    return BertConfig.from_dict(tiny_config())


@pytest.fixture(scope="module")
def model(config):
    model = BertForPreTraining(config, seed=7)
    randomize_weights(model, seed=3)
    return model


def _torch_bert(config, model):
    """transformers.BertForMaskedLM with our weights; Google's gelu is transformers' gelu_new."""
    hf = transformers.BertForMaskedLM(transformers.BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size, hidden_act="gelu_new",
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size, layer_norm_eps=1e-12)).eval()
    w = {name: torch.from_numpy(v.numpy()) for name, v in model.variables_by_name.items()}

    def linear(module, prefix):
        module.weight.copy_(w[f"{prefix}/kernel"].T)
        module.bias.copy_(w[f"{prefix}/bias"])

    def norm(module, prefix):
        module.weight.copy_(w[f"{prefix}/gamma"])
        module.bias.copy_(w[f"{prefix}/beta"])

    with torch.no_grad():
        emb = hf.bert.embeddings
        emb.word_embeddings.weight.copy_(w["bert/embeddings/word_embeddings"])
        emb.position_embeddings.weight.copy_(w["bert/embeddings/position_embeddings"])
        emb.token_type_embeddings.weight.copy_(w["bert/embeddings/token_type_embeddings"])
        norm(emb.LayerNorm, "bert/embeddings/LayerNorm")
        for n, layer in enumerate(hf.bert.encoder.layer):
            g = f"bert/encoder/layer_{n}"
            linear(layer.attention.self.query, f"{g}/attention/self/query")
            linear(layer.attention.self.key, f"{g}/attention/self/key")
            linear(layer.attention.self.value, f"{g}/attention/self/value")
            linear(layer.attention.output.dense, f"{g}/attention/output/dense")
            norm(layer.attention.output.LayerNorm, f"{g}/attention/output/LayerNorm")
            linear(layer.intermediate.dense, f"{g}/intermediate/dense")
            linear(layer.output.dense, f"{g}/output/dense")
            norm(layer.output.LayerNorm, f"{g}/output/LayerNorm")
        head = hf.cls.predictions
        linear(head.transform.dense, "cls/predictions/transform/dense")
        norm(head.transform.LayerNorm, "cls/predictions/transform/LayerNorm")
        head.bias.copy_(w["cls/predictions/output_bias"])
    assert hf.cls.predictions.decoder.weight.data_ptr() == emb.word_embeddings.weight.data_ptr()
    return hf


def test_forward_matches_transformers_bert_for_masked_lm(config, model):
    input_ids, input_mask, segment_ids = padded_batch(config.vocab_size)
    ours = model(input_ids, input_mask, segment_ids).numpy()
    hf = _torch_bert(config, model)
    with torch.no_grad():
        theirs = hf(input_ids=torch.from_numpy(input_ids),
                    attention_mask=torch.from_numpy(input_mask),
                    token_type_ids=torch.from_numpy(segment_ids)).logits.numpy()
    assert ours.shape == theirs.shape == (3, input_ids.shape[1], config.vocab_size)
    assert ours.dtype == np.float32
    # The weights are large enough that the logits spread over tens of units.
    assert ours.std() > 1.0
    assert np.abs(ours - theirs).max() <= 1e-4


def test_gathered_logits_are_the_full_logits_at_the_positions(config, model):
    input_ids, input_mask, segment_ids = padded_batch(config.vocab_size)
    positions = np.array([[0, 5, 23], [1, 14, 2], [0, 0, 5]])
    full = model(input_ids, input_mask, segment_ids).numpy()
    gathered = model(input_ids, input_mask, segment_ids, masked_lm_positions=positions).numpy()
    assert gathered.shape == (3, 3, config.vocab_size)
    expected = np.take_along_axis(full, positions[:, :, None], axis=1)
    np.testing.assert_allclose(gathered, expected, atol=1e-5)


def test_padding_does_not_leak_into_real_tokens(config, model):
    input_ids, input_mask, segment_ids = padded_batch(config.vocab_size)
    changed = input_ids.copy()
    changed[input_mask == 0] = 11  # different ids under the padding
    a = model(input_ids, input_mask, segment_ids).numpy()[input_mask == 1]
    b = model(changed, input_mask, segment_ids).numpy()[input_mask == 1]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_sequence_and_pooled_output_shapes(config, model):
    input_ids, input_mask, segment_ids = padded_batch(config.vocab_size)
    sequence = model.sequence_output(input_ids, input_mask, segment_ids)
    assert sequence.shape == (3, input_ids.shape[1], config.hidden_size)
    pooled = model.pooled_output(sequence).numpy()
    assert pooled.shape == (3, config.hidden_size) and np.abs(pooled).max() <= 1.0


def test_variables_are_google_names_and_next_sentence_head_is_frozen(config, model):
    shapes = {n: v.shape.as_list() for n, v in model.variables_by_name.items()}
    assert shapes == google_variable_shapes(config)
    trainable = {v.name.split(":")[0] for v in model.trainable_variables}
    frozen = {"cls/seq_relationship/output_weights", "cls/seq_relationship/output_bias"}
    assert trainable == set(shapes) - frozen
    assert len(model.trainable_variables) == len(shapes) - 2


def test_dropout_is_off_in_inference_and_reproducible_with_a_seed(config, model):
    input_ids, input_mask, segment_ids = padded_batch(config.vocab_size)
    infer = model(input_ids, input_mask, segment_ids).numpy()
    seed = tf.constant([5, 9], tf.int64)
    a = model(input_ids, input_mask, segment_ids, training=True, dropout_seed=seed).numpy()
    b = model(input_ids, input_mask, segment_ids, training=True, dropout_seed=seed).numpy()
    c = model(input_ids, input_mask, segment_ids, training=True,
              dropout_seed=tf.constant([5, 10], tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3 and np.abs(a - infer).max() > 1e-3
    np.testing.assert_array_equal(infer, model(input_ids, input_mask, segment_ids).numpy())


def test_mixed_precision_compute_keeps_float32_variables(config, model):
    half = BertForPreTraining(config, compute_dtype=tf.bfloat16)
    for name, variable in model.variables_by_name.items():
        half.variables_by_name[name].assign(variable)
    input_ids, input_mask, segment_ids = padded_batch(config.vocab_size)
    logits = half(input_ids, input_mask, segment_ids, masked_lm_positions=[[1], [2], [3]])
    full = model(input_ids, input_mask, segment_ids, masked_lm_positions=[[1], [2], [3]])
    assert logits.dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in half.variables_by_name.values())
    # bfloat16 keeps 8 bits of mantissa: close, not equal.
    assert np.abs(logits.numpy() - full.numpy()).max() < 0.05 * np.abs(full.numpy()).max()


def test_gelu_is_googles_tanh_approximation():
    x = np.linspace(-6, 6, 101).astype(np.float32)
    tanh_form = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(gelu(tf.constant(x)).numpy(), tanh_form, atol=1e-6)
    exact = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    assert np.abs(gelu(tf.constant(x)).numpy() - exact).max() > 1e-4


def test_same_seed_same_initial_weights(config):
    a = BertForPreTraining(config, seed=1).variables_by_name
    b = BertForPreTraining(config, seed=1).variables_by_name
    c = BertForPreTraining(config, seed=2).variables_by_name
    name = "bert/encoder/layer_1/attention/self/query/kernel"
    np.testing.assert_array_equal(a[name].numpy(), b[name].numpy())
    assert not np.array_equal(a[name].numpy(), c[name].numpy())
