"""`python -m components.bert.init` as the users run it: a model directory, or one error line."""

import subprocess
import sys

import tensorflow as tf

from tests.helpers_bert import write_model_inputs


def _init(*args, cwd):
    return subprocess.run([sys.executable, "-m", "components.bert.init", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_init_cli_writes_a_google_format_model(tmp_path, repo_root):
    config_path, vocab_path = write_model_inputs(tmp_path / "in")
    out = tmp_path / "model"
    result = _init(f"--bert_config_file={config_path}", "--vocab_file", str(vocab_path),
                   "--output_dir", str(out), "--random_seed=5", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    names = tf.train.load_checkpoint(str(out / "bert_model.ckpt")).get_variable_to_shape_map()
    assert "bert/encoder/layer_2/output/LayerNorm/gamma" in names
    assert (out / "manifest.json").exists() and (out / "vocab.txt").exists()


def test_init_cli_vocab_size_mismatch_is_one_line_and_writes_nothing(tmp_path, repo_root):
    config_path, _ = write_model_inputs(tmp_path / "in", vocab_size=300)
    _, other_vocab = write_model_inputs(tmp_path / "other", vocab_size=290)
    out = tmp_path / "model"
    result = _init("--bert_config_file", str(config_path), "--vocab_file", str(other_vocab),
                   "--output_dir", str(out), cwd=repo_root)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "vocab has 290 entries but the config says vocab_size 300" in lines[0]
    assert str(other_vocab) in lines[0] and str(config_path) in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "other"]


def test_init_cli_missing_config_file_is_one_line(tmp_path, repo_root):
    _, vocab_path = write_model_inputs(tmp_path / "in")
    result = _init("--bert_config_file", str(tmp_path / "absent.json"), "--vocab_file",
                   str(vocab_path), "--output_dir", str(tmp_path / "model"), cwd=repo_root)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: BERT config file not found ({tmp_path / 'absent.json'}); pass "
        "--bert_config_file pointing at the model's bert_config.json"]
    assert not (tmp_path / "model").exists()
