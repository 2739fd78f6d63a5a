"""Google-format checkpoints: exact names and shapes, loading with checks, model directories."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components.bert.arguments import BertInitArguments
from components.bert.checkpoint import (
    load_google_checkpoint,
    load_model,
    resolve_checkpoint,
    resolve_model_files,
    save_google_checkpoint,
)
from components.bert.config import BertConfig
from components.bert.init import init_random_model
from components.bert.model import BertForPreTraining, google_variable_shapes
from components.common.errors import UserError
from tests.helpers_bert import randomize_weights, tiny_config, write_model_inputs


def _google_layer_shapes(layer, H, I):  # noqa: E741
    """Google's names and shapes for one encoder layer, spelled out as in google-research/bert."""
    p = f"bert/encoder/layer_{layer}"
    shapes = {f"{p}/attention/self/{x}/kernel": [H, H] for x in ("query", "key", "value")}
    shapes.update({f"{p}/attention/self/{x}/bias": [H] for x in ("query", "key", "value")})
    shapes.update({
        f"{p}/attention/output/dense/kernel": [H, H], f"{p}/attention/output/dense/bias": [H],
        f"{p}/attention/output/LayerNorm/gamma": [H], f"{p}/attention/output/LayerNorm/beta": [H],
        f"{p}/intermediate/dense/kernel": [H, I], f"{p}/intermediate/dense/bias": [I],
        f"{p}/output/dense/kernel": [I, H], f"{p}/output/dense/bias": [H],
        f"{p}/output/LayerNorm/gamma": [H], f"{p}/output/LayerNorm/beta": [H]})
    return shapes


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    inputs = tmp_path_factory.mktemp("inputs")
    config_path, vocab_path = write_model_inputs(inputs)
    out = tmp_path_factory.mktemp("models") / "random"
    manifest = init_random_model(BertInitArguments(
            str(config_path), str(vocab_path), str(out), random_seed=3))
    assert manifest["kind"] == "bert_model"
    return out


def test_saved_checkpoint_lists_exactly_googles_names_and_shapes(model_dir):
    stored = tf.train.load_checkpoint(str(model_dir / "bert_model.ckpt"))
    shapes = stored.get_variable_to_shape_map()
    config = tiny_config()
    H, V, I = config["hidden_size"], config["vocab_size"], config["intermediate_size"]  # noqa: E741
    expected = {
        "bert/embeddings/word_embeddings": [V, H],
        "bert/embeddings/token_type_embeddings": [2, H],
        "bert/embeddings/position_embeddings": [64, H],
        "bert/embeddings/LayerNorm/gamma": [H], "bert/embeddings/LayerNorm/beta": [H],
        "bert/pooler/dense/kernel": [H, H], "bert/pooler/dense/bias": [H],
        "cls/predictions/transform/dense/kernel": [H, H],
        "cls/predictions/transform/dense/bias": [H],
        "cls/predictions/transform/LayerNorm/gamma": [H],
        "cls/predictions/transform/LayerNorm/beta": [H],
        "cls/predictions/output_bias": [V],
        "cls/seq_relationship/output_weights": [2, H], "cls/seq_relationship/output_bias": [2],
    }
    for layer in range(3):
        expected.update(_google_layer_shapes(layer, H, I))
    assert shapes == expected
    assert all(stored.get_variable_to_dtype_map()[n] == tf.float32 for n in shapes)
    assert sorted(os.listdir(model_dir)) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index",
        "manifest.json", "vocab.txt"]


def test_random_init_follows_googles_initialisers(model_dir):
    stored = tf.train.load_checkpoint(str(model_dir / "bert_model.ckpt"))
    kernel = stored.get_tensor("bert/encoder/layer_0/intermediate/dense/kernel")
    assert abs(kernel.std() - 0.02 * 0.88) < 0.002  # a normal truncated at 2 sigma
    assert np.abs(kernel).max() <= 0.04 + 1e-6
    assert (stored.get_tensor("bert/encoder/layer_2/output/LayerNorm/gamma") == 1).all()
    assert (stored.get_tensor("bert/encoder/layer_2/output/LayerNorm/beta") == 0).all()
    assert (stored.get_tensor("cls/predictions/output_bias") == 0).all()
    config = json.loads((model_dir / "bert_config.json").read_text())
    assert config == tiny_config()  # unknown keys (directionality, pooler_type) kept


def test_save_then_load_round_trips_every_weight(tmp_path):
    config = BertConfig.from_dict(tiny_config())
    model = BertForPreTraining(config, seed=1)
    randomize_weights(model, seed=5)
    prefix = save_google_checkpoint(model, str(tmp_path / "bert_model.ckpt"), global_step=77)
    assert sorted(os.listdir(tmp_path)) == ["bert_model.ckpt.data-00000-of-00001",
                                            "bert_model.ckpt.index"]  # no temp files left
    assert tf.train.load_checkpoint(prefix).get_tensor("global_step") == 77
    other = BertForPreTraining(config, seed=2)
    load_google_checkpoint(other, prefix)
    for name, variable in model.variables_by_name.items():
        np.testing.assert_array_equal(variable.numpy(), other.variables_by_name[name].numpy())


def _write_raw_checkpoint(prefix, tensors):
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])


def test_training_checkpoint_with_adam_slots_and_global_step_loads(tmp_path):
    config = BertConfig.from_dict(tiny_config(num_hidden_layers=1))
    tensors = {n: np.full(s, 0.5, np.float32) for n, s in google_variable_shapes(config).items()}
    for name in list(tensors):
        tensors[f"{name}/adam_m"] = tensors[name] * 0
        tensors[f"{name}/adam_v"] = tensors[name] * 0
    tensors["global_step"] = np.int64(1000)
    _write_raw_checkpoint(str(tmp_path / "model.ckpt-1000"), tensors)
    model = BertForPreTraining(config)
    load_google_checkpoint(model, resolve_checkpoint(str(tmp_path)))
    assert (model.variables_by_name["bert/pooler/dense/kernel"].numpy() == 0.5).all()


def test_load_error_lists_missing_unexpected_and_misshaped_names(tmp_path):
    config = BertConfig.from_dict(tiny_config(num_hidden_layers=1))
    tensors = {n: np.zeros(s, np.float32) for n, s in google_variable_shapes(config).items()}
    del tensors["bert/encoder/layer_0/attention/self/key/bias"]
    tensors["bert/encoder/layer_1/attention/self/key/bias"] = np.zeros([48], np.float32)
    tensors["bert/pooler/dense/kernel"] = np.zeros([48, 32], np.float32)
    _write_raw_checkpoint(str(tmp_path / "bert_model.ckpt"), tensors)
    with pytest.raises(UserError) as err:
        load_google_checkpoint(BertForPreTraining(config), str(tmp_path / "bert_model.ckpt"))
    line = str(err.value)
    assert "\n" not in line
    assert "1 missing: bert/encoder/layer_0/attention/self/key/bias" in line
    assert "1 unexpected: bert/encoder/layer_1/attention/self/key/bias" in line
    assert "bert/pooler/dense/kernel [48, 32] vs [48, 48]" in line


def test_checkpoint_of_another_config_names_the_mismatch(model_dir, tmp_path):
    other = tmp_path / "bert_config.json"
    other.write_text(json.dumps(tiny_config(hidden_size=64)))
    with pytest.raises(UserError, match=r"does not match the BERT config.*\[300, 48\] vs "
                       r"\[300, 64\]") as err:
        load_model(str(model_dir), str(other))
    assert str(other) in str(err.value)


def test_resolve_checkpoint_accepts_prefix_directory_and_index_file(model_dir, tmp_path):
    prefix = str(model_dir / "bert_model.ckpt")
    assert resolve_checkpoint(prefix) == prefix
    assert resolve_checkpoint(str(model_dir)) == prefix
    assert resolve_checkpoint(prefix + ".index") == prefix
    with pytest.raises(UserError, match="no TensorFlow checkpoint found"):
        resolve_checkpoint(str(tmp_path / "nothing" / "bert_model.ckpt"))
    with pytest.raises(UserError, match="holds no checkpoint"):
        resolve_checkpoint(str(tmp_path))


def test_resolve_model_files_finds_config_beside_checkpoint_or_asks(model_dir, tmp_path):
    prefix, config_file, vocab = resolve_model_files(str(model_dir))
    assert config_file == str(model_dir / "bert_config.json")
    assert vocab == str(model_dir / "vocab.txt")
    lone = tmp_path / "lone"
    lone.mkdir()
    for name in os.listdir(model_dir):
        if name.startswith("bert_model.ckpt"):
            (lone / name).write_bytes((model_dir / name).read_bytes())
    with pytest.raises(UserError, match="no bert_config.json beside the checkpoint.*"
                       "--bert_config_file"):
        resolve_model_files(str(lone))


def test_config_round_trip_keeps_extra_keys(tmp_path):
    values = tiny_config(pooler_num_fc_layers=3)
    path = tmp_path / "in.json"
    path.write_text(json.dumps(values))
    config = BertConfig.from_json_file(str(path))
    assert config.extra == {"directionality": "bidi", "pooler_type": "first_token_transform",
                            "pooler_num_fc_layers": 3}
    config.to_json_file(str(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out.json").read_text()) == values


@pytest.mark.parametrize("change, message", [
    ({"hidden_size": 50}, "hidden_size 50 is not a multiple of num_attention_heads 4"),
    ({"hidden_act": "swish"}, "hidden_act 'swish' is not one of"),
    ({"num_hidden_layers": 0}, "num_hidden_layers must be a positive integer"),
    ({"hidden_dropout_prob": 1.5}, r"hidden_dropout_prob must be in \[0, 1\)"),
])
def test_config_validation_names_the_field_and_file(tmp_path, change, message):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(tiny_config(**change)))
    with pytest.raises(UserError, match=message) as err:
        BertConfig.from_json_file(str(path))
    assert str(path) in str(err.value)


def test_config_file_missing_or_not_json(tmp_path):
    with pytest.raises(UserError, match="BERT config file not found"):
        BertConfig.from_json_file(str(tmp_path / "absent.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{vocab_size: 3")
    with pytest.raises(UserError, match="not valid JSON"):
        BertConfig.from_json_file(str(bad))
