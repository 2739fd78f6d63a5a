"""bench/dapt_mlm.py's `init --from_encoder`: a pretrained encoder (here a small random
`BertModel` saved as m3e-small is laid out: weights and a pooler, no masked-LM head) becomes the
bench's base, a `BertForMaskedLM` with those weights and a new head; bad encoders are one error
line."""

import json
import pathlib
import sys

import pytest
import torch
import transformers

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))

import dapt_mlm  # noqa: E402

VOCAB = REPO_ROOT / "data" / "sample" / "vocab.txt"


def vocab_size():
    return sum(1 for line in VOCAB.read_text(encoding="utf-8").splitlines() if line)


def save_encoder(path, size, vocab_file=None):
    """A small random BertModel as m3e-small lays one out, with vocab_file's tokenizer."""
    torch.manual_seed(7)
    config = transformers.BertConfig(vocab_size=size, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64)
    encoder = transformers.BertModel(config)
    encoder.save_pretrained(path)
    if vocab_file:
        transformers.BertTokenizer(vocab=str(vocab_file)).save_pretrained(path)
    return encoder


def test_the_base_holds_the_encoder_weights_under_a_new_tied_head(tmp_path):
    encoder = save_encoder(tmp_path / "encoder", vocab_size(), VOCAB)

    dapt_mlm.main(["init", "--vocab_file", str(VOCAB), "--from_encoder",
                   str(tmp_path / "encoder"), "--output_dir", str(tmp_path / "base")])

    base = transformers.BertForMaskedLM.from_pretrained(tmp_path / "base")
    wanted = {k: v for k, v in encoder.state_dict().items() if not k.startswith("pooler.")}
    got = base.bert.state_dict()
    assert set(got) == set(wanted)
    for name, value in wanted.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=0, msg=name)
    assert base.cls.predictions.decoder.weight.data_ptr() == \
        base.bert.embeddings.word_embeddings.weight.data_ptr()
    assert torch.count_nonzero(base.cls.predictions.bias) == 0
    manifest = json.loads((tmp_path / "base" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "bench_pretrained_encoder"
    assert manifest["masked_lm_head"] == "random"
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "base")
    assert len(tokenizer) == vocab_size()


def init_error(tmp_path):
    """The one error line of `init --from_encoder tmp_path/encoder`; nothing written."""
    with pytest.raises(SystemExit) as stop:
        dapt_mlm.main(["init", "--vocab_file", str(VOCAB), "--from_encoder",
                       str(tmp_path / "encoder"), "--output_dir", str(tmp_path / "base")])
    message = str(stop.value.code)
    assert message.startswith("error: ") and "\n" not in message
    assert not (tmp_path / "base").exists()
    return message


def test_an_encoder_of_another_vocabulary_is_one_error_line(tmp_path):
    save_encoder(tmp_path / "encoder", vocab_size() + 5)

    message = init_error(tmp_path)

    assert f"{vocab_size() + 5} token embeddings" in message and "vocab.txt" in message


def test_an_encoder_whose_tokenizer_numbers_the_tokens_otherwise_is_one_error_line(tmp_path):
    tokens = VOCAB.read_text(encoding="utf-8").splitlines()
    tokens[10], tokens[11] = tokens[11], tokens[10]
    (tmp_path / "swapped.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    save_encoder(tmp_path / "encoder", vocab_size(), tmp_path / "swapped.txt")

    assert "differ at 2 tokens" in init_error(tmp_path)


def test_a_directory_without_a_bert_is_one_error_line(tmp_path):
    (tmp_path / "encoder").mkdir()

    assert "not a transformers BERT directory" in init_error(tmp_path)
