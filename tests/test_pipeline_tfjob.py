"""`python pipeline.py tfjob`: the multi-node TFJob written from the pipeline CLI."""

import subprocess
import sys

import pytest
import yaml


def test_tfjob_command_writes_a_trainer_job_with_the_trainer_image(tmp_path, repo_root):
    out = tmp_path / "tfjob.yaml"
    result = subprocess.run(
        [sys.executable, "pipeline.py", "tfjob", "--output", str(out), "--workers", "3",
         "--gpus-per-worker", "2", "--volume-claim", "edu-mlm-work", "--registry", "reg.example",
         "--tag", "7", "--", "--input_dir=/mnt/edu-mlm/data", "--output_dir=/mnt/edu-mlm/model",
         "--num_train_steps=1000"],
        cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    job = yaml.safe_load(out.read_text())
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    container = worker["template"]["spec"]["containers"][0]
    assert worker["replicas"] == 3
    assert container["image"] == "reg.example/edu-mlm-trainer:7"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert "--num_gpus=2" in container["args"] and "--output_dir=/mnt/edu-mlm/model" in \
        container["args"]
    assert worker["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == \
        "edu-mlm-work"


def test_tfjob_command_without_trainer_flags_fails_in_one_line(tmp_path, repo_root):
    result = subprocess.run([sys.executable, "pipeline.py", "tfjob", "--output",
                             str(tmp_path / "t.yaml")],
                            cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "TRAIN_FLAGS" in result.stderr
    assert not (tmp_path / "t.yaml").exists()


@pytest.mark.parametrize("flag, named", [("--num_trian_steps=5", "--num_trian_steps"),
                                         ("--learning_rate=-1", "--learning_rate")])
def test_tfjob_command_refuses_flags_the_trainer_would_refuse(flag, named, tmp_path, repo_root):
    out = tmp_path / "t.yaml"
    result = subprocess.run([sys.executable, "pipeline.py", "tfjob", "--output", str(out), "--",
                             "--input_dir=/mnt/d", "--output_dir=/mnt/m", flag],
                            cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and named in result.stderr, result.stderr
    assert not out.exists()
