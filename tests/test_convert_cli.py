"""`python -m components.convert` with the users' own command line, and its error line."""

import json
import os
import subprocess
import sys

import pytest
import torch
import transformers

from components.bert.checkpoint import write_model_dir
from components.bert.config import BertConfig
from components.bert.model import BertForPreTraining
from components.common.errors import UserError
from components.convert.arguments import ConvertArguments
from components.convert.core import convert
from tests.helpers_bert import randomize_weights, write_model_inputs

# From the users' README, with `python -m components.convert` in place of their script.
USERS_COMMAND = ('--tf_checkpoint_path="../chinese_wwm_L-12_H-768-zhihu" '
                 '--bert_config_file="../chinese_L-12_H-768_A-12/bert_config.json" '
                 '--pytorch_dump_path="../prepare_data_pth/pytorch_model.bin"')


@pytest.fixture()
def users_layout(tmp_path):
    """The users' directories: a base model, a trained model beside it, a working directory."""
    base_config, base_vocab = write_model_inputs(tmp_path / "chinese_L-12_H-768_A-12")
    model = BertForPreTraining(BertConfig.from_json_file(str(base_config)))
    randomize_weights(model, seed=2)
    write_model_dir(model, str(tmp_path / "chinese_wwm_L-12_H-768-zhihu"), str(base_vocab))
    (tmp_path / "edu-bert").mkdir()
    return tmp_path


def _run(command_line, cwd, repo_root):
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    return subprocess.run(f"{sys.executable} -m components.convert {command_line}", shell=True,
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_users_convert_command_runs_as_written(users_layout, repo_root):
    result = _run(USERS_COMMAND, users_layout / "edu-bert", repo_root)
    assert result.returncode == 0, result.stderr
    out = users_layout / "prepare_data_pth"
    state = torch.load(out / "pytorch_model.bin", weights_only=True)
    legacy = transformers.BertForPreTraining(transformers.AutoConfig.from_pretrained(str(out)))
    legacy.load_state_dict(state, strict=True)
    assert transformers.AutoModelForMaskedLM.from_pretrained(str(out)).config.vocab_size == 300
    parity = json.loads((out / "parity.json").read_text())
    assert parity["max_abs_logit_diff"] <= 1e-4
    assert json.loads(result.stdout)["max_abs_logit_diff"] == parity["max_abs_logit_diff"]
    # Running it again replaces the earlier conversion (the directory is ours: it has a manifest).
    convert(ConvertArguments(tf_checkpoint_path=str(users_layout / "chinese_wwm_L-12_H-768-zhihu"),
            pytorch_dump_path=str(out / "pytorch_model.bin")))
    assert (out / "manifest.json").exists()


def test_checkpoint_of_another_config_is_one_line_and_writes_nothing(users_layout, repo_root):
    other = users_layout / "chinese_L-12_H-768_A-12" / "bert_config.json"
    config = json.loads(other.read_text())
    other.write_text(json.dumps({**config, "num_hidden_layers": 4}))
    result = _run(USERS_COMMAND, users_layout / "edu-bert", repo_root)
    assert result.returncode == 2
    # stderr also carries the log (TensorFlow's start-up lines included); one line is the error.
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and result.stderr.strip().endswith(lines[0]), result.stderr
    assert lines[0].startswith("error: checkpoint does not match the BERT config; 16 missing: "
                               "bert/encoder/layer_3/")
    assert "../chinese_L-12_H-768_A-12/bert_config.json" in lines[0]
    assert not (users_layout / "prepare_data_pth").exists()


def test_dump_directory_holding_other_files_is_refused(users_layout, repo_root):
    out = users_layout / "prepare_data_pth"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds other files"):
        convert(ConvertArguments(
                tf_checkpoint_path=str(users_layout / "chinese_wwm_L-12_H-768-zhihu"),
                pytorch_dump_path=str(out / "pytorch_model.bin")))
    assert os.listdir(out) == ["notes.txt"]
