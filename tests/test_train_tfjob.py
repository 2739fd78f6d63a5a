"""The multi-node plan: the TFJob manifest's shape and the chief/worker roles (no cluster)."""

import json

import pytest
import yaml

from components.train.__main__ import build_parser
from components.train.loop import is_chief
from components.train.tfjob import tfjob_manifest

TRAIN_ARGS = ["--input_dir=/mnt/edu-mlm/data", "--output_dir=/mnt/edu-mlm/model",
              "--init_checkpoint=/mnt/edu-mlm/chinese_L-12_H-768_A-12/bert_model.ckpt",
              "--train_batch_size=56", "--num_train_steps=360000", "--num_gpus=8"]


def test_manifest_is_a_tfjob_running_the_trainer_on_every_worker():
    manifest = tfjob_manifest("edu-mlm-train", "registry.example/edu-mlm-trainer:1", TRAIN_ARGS,
                              workers=3, gpus_per_worker=2, namespace="kubeflow-user",
                              volume_claim="edu-mlm-work")
    manifest = yaml.safe_load(yaml.safe_dump(manifest))  # what kubectl apply would get
    assert (manifest["apiVersion"], manifest["kind"]) == ("kubeflow.org/v1", "TFJob")
    assert manifest["metadata"] == {"name": "edu-mlm-train", "namespace": "kubeflow-user"}
    specs = manifest["spec"]["tfReplicaSpecs"]
    assert list(specs) == ["Worker"]
    worker = specs["Worker"]
    assert worker["replicas"] == 3 and worker["restartPolicy"] == "ExitCode"
    pod = worker["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "tensorflow"
    assert container["command"] == ["python", "-m", "components.train"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert container["volumeMounts"][0]["mountPath"] == "/mnt/edu-mlm"
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "edu-mlm-work"
    args = build_parser().parse_args(container["args"])  # the trainer accepts every flag
    assert args.num_gpus == 2 and args.train_batch_size == 56
    assert args.output_dir == "/mnt/edu-mlm/model"


def test_cpu_only_workers_request_no_gpu():
    manifest = tfjob_manifest("t", "img", TRAIN_ARGS[:2], workers=2, gpus_per_worker=0)
    container = manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert "volumes" not in manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    json.dumps(manifest)


@pytest.mark.parametrize("task_type, task_id, cluster, chief", [
    ("worker", 0, {"worker": ["a:1", "b:1"]}, True),
    ("worker", 1, {"worker": ["a:1", "b:1"]}, False),
    ("chief", 0, {"chief": ["c:1"], "worker": ["a:1"]}, True),
    ("worker", 0, {"chief": ["c:1"], "worker": ["a:1"]}, False),
])
def test_only_the_chief_writes_the_output(task_type, task_id, cluster, chief):
    assert is_chief(task_type, task_id, cluster) is chief
