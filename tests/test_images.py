"""The four stage images really build and the pipeline's steps really run inside them; the model
server's image really builds and answers over V1 and V2 on a model the serve_export stage
exported.

Marked `images` (run by make test-images, not make test): builds every image from scratch in a
private podman store (about fifteen minutes on 2 cores; tests/helpers_images.py), then runs the
steps through kfp.local's DockerRunner. Needs root (apt-get, debootstrap) and the package
registries (Debian, PyPI); no container registry.
"""

import json
import math
import os
import socket
import time
import uuid

import numpy as np
import pytest

from tests.helpers_images import (
    UNPINNED,
    constraints,
    docker_runner,
    run_stage,
    start_podman,
    stop_podman,
    tfrecords,
    torch_wheel_dir,
)

pytestmark = [pytest.mark.images, pytest.mark.timeout(2400)]

DATAPREP_ARGUMENTS = {"num_shards": 2, "dupe_factor": 2, "heldout_fraction": 0.1,
                      "max_seq_length": 64, "max_predictions_per_seq": 10}


@pytest.fixture(scope="module")
def engine():
    engine = start_podman()
    yield engine
    stop_podman(engine)


@pytest.fixture(scope="module")
def images(engine, tmp_path_factory):
    """Build all four images first: the others reuse the dataprep image's dependency layer."""
    torch_wheels = str(torch_wheel_dir(tmp_path_factory.mktemp("wheels")))
    return {"dataprep": engine.build("dataprep"),
            "trainer": engine.build("trainer", ["--cpu"]),
            "converter": engine.build("converter", ["--torch_wheels", torch_wheels]),
            "distiller": engine.build("distiller", ["--cpu", "--torch_wheels", torch_wheels])}


@pytest.fixture(scope="module")
def base_model(tmp_path_factory, sample_dir):
    """The demo's random tiny BERT, made on the host."""
    from components.bert.arguments import BertInitArguments
    from components.bert.init import init_random_model

    output_dir = tmp_path_factory.mktemp("base") / "model"
    init_random_model(BertInitArguments(bert_config_file=str(sample_dir / "bert_config.json"),
                      vocab_file=str(sample_dir / "vocab.txt"), output_dir=str(output_dir)))
    return output_dir


@pytest.fixture(scope="module")
def pretraining_data(tmp_path_factory, sample_dir, base_model):
    """Pretraining data of the sample, made on the host."""
    from components.pretraining_data.arguments import PretrainingDataArguments
    from components.pretraining_data.create import create_pretraining_data

    output_dir = tmp_path_factory.mktemp("data") / "pretraining_data"
    # The trainer component trains at the default sequence length (128) and predictions (20).
    create_pretraining_data(PretrainingDataArguments(
            input_file=str(sample_dir / "corpus.txt"), output_dir=str(output_dir),
                            vocab_file=str(base_model / "vocab.txt"), dupe_factor=1,
                            heldout_fraction=0.1))
    return output_dir


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, base_model):
    """The base model as a transformers directory (what the convert stage writes), made on the
    host."""
    from components.convert.arguments import ConvertArguments
    from components.convert.core import convert

    output_dir = tmp_path_factory.mktemp("teacher") / "hf_model"
    convert(ConvertArguments(tf_checkpoint_path=str(base_model), output_dir=str(output_dir)))
    return output_dir


def writable_root(tmp_path, name):
    """A pipeline root the images' non-root user can write into."""
    root = tmp_path / name
    root.mkdir()
    root.chmod(0o777)
    return root


@pytest.mark.parametrize("name", ["dataprep", "trainer", "converter", "distiller"])
def test_image_runs_as_non_root_with_only_pinned_packages(engine, images, name):
    from packaging.specifiers import SpecifierSet

    assert engine.python(images[name], "import os; print(os.getuid())").strip() != "0"
    # Where backends before 2.3 put artifacts (kubeflow/pipelines#10857): writable for the user.
    assert engine.python(images[name], "import os; print(all(os.access(d, os.W_OK) for d in "
                         "('/minio', '/s3', '/gcs')))").strip() == "True"
    pins = constraints()
    installed = engine.installed(images[name])
    # `==2.13.0` admits the local build 2.13.0+cpu, as pip's own constraint check does.
    assert {n: v for n, v in installed.items()
            if n not in UNPINNED and (n not in pins or v not in SpecifierSet(f"=={pins[n]}"))
            } == {}
    assert "kfp" in installed and "edu-mlm" in installed


def test_dataprep_image_has_neither_tensorflow_nor_torch(engine, images):
    found = engine.python(images["dataprep"], "import importlib.util as u; print([m for m in "
                          "('tensorflow', 'torch', 'transformers') if u.find_spec(m)])")
    assert found.strip() == "[]"


def test_dataprep_steps_in_their_image_write_the_same_tfrecords(engine, images, tmp_path,
                                                               sample_dir, base_model):
    """extract + pretraining_data (split, shards in parallel, merge) inside the dataprep image,
    as its non-root user, against the same steps as local subprocesses: byte-identical records."""
    from kfp import local

    arguments = {"input_files": str(sample_dir / "corpus.txt"), **DATAPREP_ARGUMENTS}
    results = {}
    for name, runner in (
            ("subprocess", local.SubprocessRunner(use_venv=False)),
            ("container", docker_runner(engine, [sample_dir, base_model.resolve()]))):
        root = writable_root(tmp_path, name)
        corpus = run_stage(runner, root, "extract", **arguments)["corpus"]
        data = run_stage(runner, root, "pretraining_data",
                         {"corpus": corpus.path, "base_model": base_model},
                         **arguments)["pretraining_data"]
        results[name] = tfrecords(data.path)
    names = sorted(results["subprocess"])
    assert any(n.startswith("train-") for n in names) and any(n.startswith("heldout-")
                                                              for n in names)
    assert sorted(results["container"]) == names
    for file_name in names:
        assert results["container"][file_name] == results["subprocess"][file_name], file_name


def test_training_steps_run_in_the_trainer_image(engine, images, tmp_path, base_model,
                                                 pretraining_data):
    root = writable_root(tmp_path, "train")
    runner = docker_runner(engine, [base_model.resolve(), pretraining_data.resolve()])
    outputs = run_stage(runner, root, "train",
                        {"pretraining_data": pretraining_data, "base_model": base_model},
                        train_batch_size=8, num_train_steps=3, num_warmup_steps=1,
                        learning_rate=1e-3, save_checkpoints_steps=1000)
    model_dir = outputs["model"].path
    manifest = json.loads(open(os.path.join(model_dir, "manifest.json")).read())
    assert manifest["kind"] == "bert_model"
    assert {"bert_config.json", "vocab.txt", "bert_model.ckpt.index"} <= set(os.listdir(model_dir))
    metrics = outputs["train_metrics"].metadata
    assert metrics["global_step"] == 3 and math.isfinite(metrics["final_loss"]), metrics


def test_conversion_runs_in_the_converter_image(engine, images, tmp_path, base_model,
                                                pretraining_data):
    """Converted in the image; the transformers model it writes loads and answers on the host."""
    import transformers

    root = writable_root(tmp_path, "convert")
    runner = docker_runner(engine, [base_model.resolve(), pretraining_data.resolve()])
    outputs = run_stage(runner, root, "convert",
                        {"base_model": base_model, "model": base_model,
                         "pretraining_data": pretraining_data})
    hf_dir = outputs["hf_model"].path
    parity = outputs["parity"].metadata
    assert parity["max_abs_logit_diff"] < 1e-4, parity
    fill_mask = transformers.pipeline("fill-mask", model=hf_dir, tokenizer=hf_dir)
    assert len(fill_mask("今天我们学习[MASK]学。", top_k=3)) == 3


def test_distiller_image_has_torch_but_no_tensorflow(engine, images):
    modules = ("tensorflow", "torch", "transformers", "safetensors")
    found = engine.python(images["distiller"], "import importlib.util as u; "
                          f"print([m for m in {modules} if u.find_spec(m)])")
    assert found.strip() == "['torch', 'transformers', 'safetensors']"


def test_distillation_runs_in_the_distiller_image(engine, images, tmp_path, teacher,
                                                  pretraining_data):
    """The distill task in its image, as the image's user, on a teacher and data made on the
    host: the student it writes loads and answers on the host."""
    import transformers

    root = writable_root(tmp_path, "distill")
    runner = docker_runner(engine, [teacher.resolve(), pretraining_data.resolve()])
    outputs = run_stage(runner, root, "distill",
                        {"hf_model": teacher, "pretraining_data": pretraining_data},
                        distill_student_num_hidden_layers=1, distill_num_train_steps=4,
                        distill_num_warmup_steps=1, distill_train_batch_size=8,
                        distill_save_checkpoints_steps=2, distill_log_every_n_steps=1,
                        distill_max_eval_examples=16)
    student_dir = outputs["student"].path
    student = transformers.AutoModelForMaskedLM.from_pretrained(student_dir)
    assert student.config.num_hidden_layers == 1
    assert student.config.hidden_size == transformers.AutoConfig.from_pretrained(
        teacher).hidden_size
    with open(os.path.join(student_dir, "distill_log.jsonl"), encoding="utf-8") as f:
        log = [json.loads(line) for line in f]
    assert [record["step"] for record in log] == [1, 2, 3, 4]
    assert all(math.isfinite(record["loss"]) for record in log), log
    assert outputs["distill_metrics"].metadata["global_step"] == 4
    fill_mask = transformers.pipeline("fill-mask", model=student_dir, tokenizer=student_dir)
    assert len(fill_mask("今天我们学习[MASK]学。", top_k=3)) == 3


@pytest.mark.parametrize("name, stage", [("trainer", "train"), ("distiller", "distill")])
def test_task_on_a_fresh_volume_stops_in_one_line_naming_the_job(engine, images, tmp_path,
                                                                 name, stage):
    """The train and distill tasks in their images, as the images' user, with a root:root 0755
    directory mounted where the pipeline mounts the checkpoint claim (what a fresh
    PersistentVolume looks like): exit 2 and one line naming the one-time Job, before the task
    reads an input (there are none here) or takes a step."""
    from components.pipeline.definition import CHECKPOINT_MOUNT
    from tests.test_checkpoint_volume import CLAIM, MODEL_URI, TASK_SCRIPT

    volume = tmp_path / "volume"
    volume.mkdir()
    volume.chmod(0o755)
    result = engine.run("run", "--rm", "-v", f"{volume}:{CHECKPOINT_MOUNT}",
                        "-e", f"EDU_MLM_CHECKPOINT_PVC={CLAIM}", images[name],
                        "python3", "-c", TASK_SCRIPT, stage, CHECKPOINT_MOUNT, MODEL_URI,
                        check=False)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines[0].startswith("error: cannot write the resumable state: ")
    assert "not writable by uid 10001" in lines[0]
    assert f"python pipeline.py checkpoint-volume --job-only --checkpoint-pvc {CLAIM}" in lines[0]
    assert os.listdir(volume) == []


def test_checkpoint_volume_job_hands_the_volume_to_the_tasks(engine, images, tmp_path):
    """The command of `pipeline.py checkpoint-volume`'s Job, run as the Job runs it (root, in
    the dataprep image) on a root:root 0755 directory; then the trainer and the distiller
    images, as their user, write there."""
    from components.pipeline import volume as checkpoint_volume
    from components.pipeline.definition import CHECKPOINT_MOUNT

    job = checkpoint_volume.chown_job_manifest("edu-mlm-checkpoints", images["dataprep"])
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    volume = tmp_path / "volume"
    volume.mkdir()
    volume.chmod(0o755)
    engine.run("run", "--rm", "--user", str(pod["securityContext"]["runAsUser"]),
               "-v", f"{volume}:{container['volumeMounts'][0]['mountPath']}",
               container["image"], *container["command"])
    for name in ("trainer", "distiller"):
        engine.run("run", "--rm", "-v", f"{volume}:{CHECKPOINT_MOUNT}", images[name],
                   "python3", "-c", f"open('{CHECKPOINT_MOUNT}/{name}', 'w').write('state')")
        assert (volume / name).stat().st_uid == checkpoint_volume.TASK_UID


@pytest.fixture(scope="module")
def server_image(engine):
    """The model server's image alone (a test of it builds neither stage image)."""
    return engine.build("server")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _started_server(engine, image, export_dir, name, ports):
    """Start the server image on `export_dir` (mounted read-only where KServe's storage
    initializer puts a model) on the host's network; return its URL once it is ready."""
    import requests

    http, grpc = ports
    engine.run("run", "-d", "--name", name, "--network", "host",
               "-v", f"{export_dir}:/mnt/models:ro", image, "--model_dir", "/mnt/models",
               "--http_port", str(http), "--grpc_port", str(grpc), "--num_threads", "1")
    url = f"http://127.0.0.1:{http}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = engine.run("inspect", "--format", "{{.State.Running}}", name, check=False)
        if state.stdout.strip() != "true":
            pytest.fail("the server container stopped:\n"
                        + engine.run("logs", name, check=False).stderr[-3000:])
        try:
            if requests.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                return url
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail("the server was not ready in 120 s:\n"
                + engine.run("logs", name, check=False).stderr[-3000:])


def test_server_image_answers_v1_and_v2_on_the_stages_export(engine, server_image, tmp_path):
    """The server image, as its non-root user, on a tiny BERT exported by the serve_export
    stage on the host: V1 fill-mask is the torch model's top-k, V2 embeddings its mean-pooled
    last hidden states."""
    import requests

    from components.serve.arguments import MODEL_NAME
    from tests.helpers_serve import export_with_the_stage, torch_reference

    export_dir, model = export_with_the_stage(tmp_path / "serving")
    name = f"edu-mlm-server-test-{uuid.uuid4().hex[:8]}"
    try:
        url = _started_server(engine, server_image, export_dir, name,
                              (_free_port(), _free_port()))
        texts = ["今天[MASK]气很好", "学生在教室里读书。"]
        v1 = requests.post(f"{url}/v1/models/{MODEL_NAME}:predict", timeout=30, json={
            "instances": [texts[0]], "parameters": {"top_k": 3}})
        assert v1.status_code == 200, v1.text
        (prediction,) = v1.json()["predictions"]
        (masked,) = prediction["masks"]
        hidden, logits, mask, _ = torch_reference(model, export_dir, texts)
        row = logits[0, masked["position"]].astype(np.float64)
        probabilities = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        np.testing.assert_allclose([c["score"] for c in masked["candidates"]],
                                   np.sort(probabilities)[::-1][:3], atol=1e-5)
        np.testing.assert_allclose([c["score"] for c in masked["candidates"]],
                                   probabilities[[c["token_id"] for c in masked["candidates"]]],
                                   atol=1e-5)
        v2 = requests.post(f"{url}/v2/models/{MODEL_NAME}/infer", timeout=30, json={
            "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": texts}],
            "parameters": {"task": "embedding"}})
        assert v2.status_code == 200, v2.text
        (output,) = v2.json()["outputs"]
        assert output["shape"] == [2, 32]
        expected = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        np.testing.assert_allclose(np.reshape(output["data"], (2, 32)), expected, atol=1e-4)
        user = engine.run("exec", name, "python3", "-c", "import os; print(os.getuid())")
        assert user.stdout.strip() == "10001"
    finally:
        engine.run("rm", "-f", name, check=False)

