"""Google-format TF BERT → transformers: what independent code (transformers) reads back."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers

from components.bert.checkpoint import google_variable_shapes, load_model, write_model_dir
from components.bert.config import BertConfig
from components.bert.model import BertForPreTraining
from components.common.artifacts import write_manifest
from components.common.errors import UserError
from components.convert.arguments import ConvertArguments
from components.convert.core import convert
from components.convert.mapping import torch_name
from tests.helpers_bert import randomize_weights, tiny_config, write_model_inputs


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny Google-format model with non-trivial weights everywhere."""
    inputs = tmp_path_factory.mktemp("inputs")
    config_path, vocab_path = write_model_inputs(inputs)
    model = BertForPreTraining(BertConfig.from_json_file(str(config_path)))
    randomize_weights(model, seed=11)
    out = tmp_path_factory.mktemp("models") / "trained"
    write_model_dir(model, str(out), str(vocab_path))
    return out


@pytest.fixture(scope="module")
def converted(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf") / "hf_model"
    parity = convert(ConvertArguments(tf_checkpoint_path=str(model_dir), output_dir=str(out)))
    return out, parity


def test_mapping_covers_every_bert_for_pretraining_key_once():
    config = BertConfig.from_dict(tiny_config())
    names = {torch_name(n) for n in google_variable_shapes(config)}
    hf = transformers.BertForPreTraining(transformers.BertConfig(
        vocab_size=300, hidden_size=48, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=96, max_position_embeddings=64))
    tied = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    assert names == set(hf.state_dict()) - tied
    assert len(names) == len(google_variable_shapes(config))


def test_converted_directory_is_a_transformers_bert_for_masked_lm(converted):
    out, parity = converted
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]
    assert config["hidden_act"] == "gelu_new"  # Google's tanh GELU, not transformers' erf "gelu"
    assert config["layer_norm_eps"] == 1e-12
    files = set(os.listdir(out))
    assert {"model.safetensors", "vocab.txt", "tokenizer_config.json", "parity.json",
            "manifest.json"} <= files
    assert json.loads((out / "manifest.json").read_text())["kind"] == "hf_model"
    assert json.loads((out / "parity.json").read_text()) == parity
    assert parity["max_abs_logit_diff"] <= 1e-4
    assert parity["top1_agreement_real_tokens"] == 1.0
    assert parity["num_examples"] == 8


def test_fill_mask_pipeline_gives_our_tf_models_probabilities(converted, model_dir):
    out, _ = converted
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(out))
    model = transformers.AutoModelForMaskedLM.from_pretrained(str(out))
    fill = transformers.pipeline("fill-mask", model=model, tokenizer=tokenizer)
    text = "A一丁[MASK]七"
    results = fill(text, top_k=3)
    assert len(results) == 3
    encoded = tokenizer(text)
    # Lower-cased, Chinese characters split one per token, as Google's tokenizer does.
    assert tokenizer.convert_ids_to_tokens(encoded["input_ids"]) == [
        "[CLS]", "a", "一", "丁", "[MASK]", "七", "[SEP]"]
    ids = np.array([encoded["input_ids"]])
    tf_model, _, _ = load_model(str(model_dir))
    logits = tf_model(ids, np.ones_like(ids), np.zeros_like(ids), masked_lm_positions=[[4]])
    probs = tf.nn.softmax(logits[0, 0]).numpy()
    best = np.argsort(-probs)[:3]
    assert [r["token"] for r in results] == best.tolist()
    np.testing.assert_allclose([r["score"] for r in results], probs[best], atol=1e-5)


def _write_instances(path, seq_length=32, count=5):
    """Pretraining instances in Google's TFRecord schema."""
    rng = np.random.default_rng(4)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(count):
            length = int(rng.integers(10, seq_length))
            ids = np.zeros(seq_length, np.int64)
            ids[:length] = rng.integers(6, 300, size=length)
            mask = (np.arange(seq_length) < length).astype(np.int64)
            segments = ((np.arange(seq_length) >= length // 2) & (mask == 1)).astype(np.int64)

            def ints(values):
                return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

            features = {"input_ids": ints(ids), "input_mask": ints(mask),
                        "segment_ids": ints(segments), "masked_lm_positions": ints([1, 2]),
                        "masked_lm_ids": ints([7, 8]), "next_sentence_labels": ints([0]),
                        "masked_lm_weights": tf.train.Feature(
                            float_list=tf.train.FloatList(value=[1.0, 1.0]))}
            example = tf.train.Example(features=tf.train.Features(feature=features))
            writer.write(example.SerializeToString())


def test_parity_on_pretraining_instances(model_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _write_instances(data / "heldout-00000-of-00001.tfrecord")
    with pytest.raises(UserError, match=r"no manifest\.json"):
        convert(ConvertArguments(tf_checkpoint_path=str(model_dir / "bert_model.ckpt"),
                output_dir=str(tmp_path / "hf"), parity_data=str(data)))
    assert not (tmp_path / "hf").exists()
    write_manifest(str(data), {"kind": "pretraining_data"})
    parity = convert(ConvertArguments(tf_checkpoint_path=str(model_dir / "bert_model.ckpt"),
                     output_dir=str(tmp_path / "hf"), parity_data=str(data)))
    assert parity["num_examples"] == 5 and parity["seq_length"] == 32
    assert "heldout-00000-of-00001.tfrecord" in parity["inputs"]
    assert parity["max_abs_logit_diff"] <= 1e-4


def test_parity_above_tolerance_fails_and_leaves_nothing(model_dir, tmp_path):
    dump = tmp_path / "pth" / "pytorch_model.bin"
    with pytest.raises(UserError, match=r"TF and PyTorch logits differ by .* > 1e-12"):
        convert(ConvertArguments(tf_checkpoint_path=str(model_dir), output_dir=str(tmp_path / "hf"),
                pytorch_dump_path=str(dump), parity_tolerance=1e-12))
    assert os.listdir(tmp_path) == []


def test_legacy_dump_elsewhere_is_bert_for_pretraining_state_dict(model_dir, tmp_path):
    dump = tmp_path / "legacy" / "pytorch_model.bin"
    convert(ConvertArguments(tf_checkpoint_path=str(model_dir), output_dir=str(tmp_path / "hf"),
            pytorch_dump_path=str(dump)))
    state = torch.load(dump, weights_only=True)
    hf_config = transformers.AutoConfig.from_pretrained(str(tmp_path / "hf"))
    legacy = transformers.BertForPreTraining(hf_config)
    legacy.load_state_dict(state, strict=True)
    stored = tf.train.load_checkpoint(str(model_dir / "bert_model.ckpt"))
    np.testing.assert_array_equal(
        state["bert.encoder.layer.1.intermediate.dense.weight"].numpy(),
        stored.get_tensor("bert/encoder/layer_1/intermediate/dense/kernel").T)
    np.testing.assert_array_equal(state["cls.seq_relationship.weight"].numpy(),
                                  stored.get_tensor("cls/seq_relationship/output_weights"))
    assert sorted(os.listdir(tmp_path / "legacy")) == ["pytorch_model.bin"]


def test_bad_inputs_are_clear_errors(model_dir, tmp_path):
    small_config, small_vocab = write_model_inputs(tmp_path / "other", vocab_size=290)
    with pytest.raises(UserError, match="vocab has 290 entries but the config says vocab_size "
                       "300"):
        convert(ConvertArguments(tf_checkpoint_path=str(model_dir), output_dir=str(tmp_path / "a"),
                vocab_file=str(small_vocab)))
    with pytest.raises(UserError, match=r"missing.*\[290, 48\] vs|\[300, 48\] vs \[290, 48\]"):
        convert(ConvertArguments(tf_checkpoint_path=str(model_dir), output_dir=str(tmp_path / "b"),
                bert_config_file=str(small_config), vocab_file=str(small_vocab)))
    with pytest.raises(UserError, match="no TensorFlow checkpoint found"):
        convert(ConvertArguments(
                tf_checkpoint_path=str(tmp_path / "absent"), output_dir=str(tmp_path / "c")))
    with pytest.raises(UserError, match="no output given"):
        convert(ConvertArguments(tf_checkpoint_path=str(model_dir)))
    assert sorted(os.listdir(tmp_path)) == ["other"]


def test_every_output_file_has_the_mode_a_plain_write_gives(converted):
    """safetensors creates its file 0600; the other users of an artifact must read it too."""
    out, _ = converted
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert "model.safetensors" in modes
    assert set(modes.values()) == {0o666 & ~umask}, modes
