"""The compiled pipeline (pipeline.yaml) and the CLI's fast failure paths: no cluster needed."""

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest
import yaml

from components.common.errors import UserError
from components.pipeline import definition, parameters

# ARCHITECTURE.md "The stages", spelled out here rather than read from components.images.
EXPECTED_IMAGE = {
    "extract": "dataprep", "split-corpus": "dataprep", "pretraining-data-shard": "dataprep",
    "merge-pretraining-data": "dataprep", "data-report": "dataprep",
    "train": "trainer", "evaluate-base-model": "trainer", "evaluate-trained-model": "trainer",
    "convert-base-model": "converter", "convert-trained-model": "converter",
    "report": "converter", "export-tf-model": "dataprep", "export-hf-model": "dataprep",
}
SECRET_VALUE = "hunter2-not-in-yaml-7f3a"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, repo_root):
    """pipeline.yaml compiled by the CLI with a custom registry/tag/secret and a password in the
    environment (which must not leak into the file)."""
    out = tmp_path_factory.mktemp("compile") / "pipeline.yaml"
    env = {**os.environ, "EDU_MLM_SOURCE_PASSWORD": SECRET_VALUE,
           "EDU_MLM_SOURCE_USER": "alice-" + SECRET_VALUE}
    subprocess.run([sys.executable, "pipeline.py", "compile", "--output", str(out),
                    "--registry", "registry.test/ml", "--tag", "t9",
                    "--secret-name", "hive-team-a"],
                   cwd=repo_root, env=env, check=True, capture_output=True)
    text = out.read_text(encoding="utf-8")
    return text, list(yaml.safe_load_all(text))


def _executor_of(spec, task):
    for dag in [spec["root"]["dag"], *(c["dag"] for c in spec["components"].values()
                                       if "dag" in c)]:
        if task in dag["tasks"]:
            return spec["components"][dag["tasks"][task]["componentRef"]["name"]]["executorLabel"]
    raise KeyError(task)


def test_each_task_runs_in_its_stage_image(compiled):
    _, (spec, _) = compiled
    executors = spec["deploymentSpec"]["executors"]
    for task, image in EXPECTED_IMAGE.items():
        container = executors[_executor_of(spec, task)]["container"]
        assert container["image"] == f"registry.test/ml/edu-mlm-{image}:t9", task


def test_trainer_asks_for_gpus_and_dataprep_does_not(compiled):
    _, (spec, _) = compiled
    executors = spec["deploymentSpec"]["executors"]
    for task in EXPECTED_IMAGE:
        resources = executors[_executor_of(spec, task)]["container"].get("resources", {})
        accelerator = resources.get("accelerator", {})
        if task in ("train", "evaluate-base-model", "evaluate-trained-model"):
            assert accelerator.get("resourceType") == "nvidia.com/gpu", task
            assert float(resources["memoryRequest"]) > 0 and float(resources["cpuRequest"]) > 0
        else:
            assert not accelerator, task
    train = executors[_executor_of(spec, "train")]["container"]["resources"]["accelerator"]
    assert train["count"] == train["resourceCount"] == "1"  # a constant, read by every backend
    assert spec["root"]["dag"]["tasks"]["train"]["retryPolicy"]["maxRetryCount"] == 2


def test_fan_out_runs_pretraining_data_per_shard(compiled):
    _, (spec, _) = compiled
    loop = next(t for t in spec["root"]["dag"]["tasks"].values()
                if "parameterIterator" in t)
    assert loop["parameterIterator"]["items"]["inputParameter"]
    merge = spec["root"]["dag"]["tasks"]["merge-pretraining-data"]
    assert merge["inputs"]["artifacts"]["shards"]["taskOutputArtifact"]["producerTask"] == \
        loop["taskInfo"]["name"]


def test_secret_reaches_extract_as_env_only(compiled):
    text, (spec, platform) = compiled
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    extract = executors[_executor_of(spec, "extract")]["secretAsEnv"][0]
    assert extract["secretName"] == "hive-team-a"
    assert {m["secretKey"]: m["envVar"] for m in extract["keyToEnv"]} == \
        definition.SECRET_KEYS_TO_ENV
    for task in ("export-tf-model", "export-hf-model"):
        hdfs = executors[_executor_of(spec, task)]["secretAsEnv"][0]
        assert hdfs["secretName"] == "hive-team-a"
        assert {m["envVar"] for m in hdfs["keyToEnv"]} == {"EDU_MLM_HDFS_USER",
                                                           "EDU_MLM_HDFS_TOKEN"}
    assert SECRET_VALUE not in text
    names = spec["root"]["inputDefinitions"]["parameters"]
    assert not [n for n in names if any(w in n.lower() for w in ("password", "secret", "token"))]


def test_parameters_carry_the_users_defaults(compiled):
    _, (spec, _) = compiled
    defaults = {name: p.get("defaultValue")
                for name, p in spec["root"]["inputDefinitions"]["parameters"].items()}
    assert defaults["max_seq_length"] == 128 and defaults["max_predictions_per_seq"] == 20
    assert defaults["masked_lm_prob"] == 0.15 and defaults["random_seed"] == 123456
    assert defaults["do_whole_word_mask"] is True and defaults["dupe_factor"] == 5
    assert defaults["train_batch_size"] == 96 and defaults["num_train_steps"] == 210000
    assert defaults["learning_rate"] == 2e-5 and defaults["num_warmup_steps"] == 1000


def test_param_assignments_are_typed_and_checked():
    assert parameters.parse_assignments(["num_train_steps=7", "do_whole_word_mask=False",
                                         "learning_rate=1e-4"]) == {
        "num_train_steps": 7, "do_whole_word_mask": False, "learning_rate": 1e-4}
    for bad in (["num_train_steps"], ["no_such=1"], ["num_train_steps=many"]):
        with pytest.raises(UserError):
            parameters.parse_assignments(bad)


def _run_cli(repo_root, *args, timeout=30):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "pipeline.py", *args], cwd=repo_root,
                            capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - started


def _assert_one_line_error(result):
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_submit_to_unreachable_host_fails_fast_in_one_line(repo_root):
    result, seconds = _run_cli(repo_root, "submit", "--host", "http://127.0.0.1:9",
                               "--param", "base_model_uri=minio://models/base")
    _assert_one_line_error(result)
    assert "cannot reach http://127.0.0.1:9" in result.stderr
    assert seconds < 5


class _NotKfp(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"<html><body>Sign in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_submit_to_a_server_that_is_not_kfp_fails_fast_in_one_line(repo_root):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotKfp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result, seconds = _run_cli(repo_root, "submit", "--host",
                                   f"http://127.0.0.1:{server.server_port}",
                                   "--param", "base_model_uri=minio://models/base")
    finally:
        server.shutdown()
    _assert_one_line_error(result)
    assert "not a Kubeflow Pipelines API" in result.stderr
    assert seconds < 5


def test_rerun_names_what_is_missing(repo_root, tmp_path):
    result, _ = _run_cli(repo_root, "rerun", "train", "--from", str(tmp_path))
    _assert_one_line_error(result)
    assert "pretraining_data" in result.stderr
    result, _ = _run_cli(repo_root, "rerun", "nonsense", "--from", str(tmp_path))
    _assert_one_line_error(result)


def test_hdfs_import_pipeline_runs_in_dataprep_with_the_secret(tmp_path):
    from kfp import compiler

    out = tmp_path / "import.yaml"
    compiler.Compiler().compile(definition.build_hdfs_import_pipeline(
        definition.Settings(registry="registry.test/ml", tag="t9", secret_name="hdfs-a")), str(out))
    spec, platform = yaml.safe_load_all(out.read_text(encoding="utf-8"))
    executor = _executor_of(spec, "hdfs-import")
    assert spec["deploymentSpec"]["executors"][executor]["container"]["image"] == \
        "registry.test/ml/edu-mlm-dataprep:t9"
    secret = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][executor]
    assert secret["secretAsEnv"][0]["secretName"] == "hdfs-a"


def test_rerun_from_latest_takes_the_newest_run_that_succeeded(tmp_path):
    import pipeline

    older, newer_failed = tmp_path / "edu-mlm-2026-01-01-00", tmp_path / "edu-mlm-2026-01-02-00"
    for run in (older, newer_failed):
        run.mkdir()
        (run / "run.log").write_text("…")
    (older / "run.json").write_text("{}")
    os.utime(older, (1, 1))
    assert pipeline._latest_run(str(tmp_path)) == str(older)
    (older / "run.json").unlink()
    with pytest.raises(UserError, match="no earlier run that succeeded"):
        pipeline._latest_run(str(tmp_path))


IMAGES = ("dataprep", "trainer", "converter", "distiller")


def _digest_file(path, images):
    references = {name: f"registry.test/ml/edu-mlm-{name}:t9@sha256:{'abcd'[i] * 64}"
                  for i, name in enumerate(images)}
    path.write_text(json.dumps(references))
    return references


def test_images_are_pinned_by_digest(repo_root, tmp_path):
    """--digests FILE (what `make images PUSH=1` writes): every task's image is the pushed
    reference with its digest, so KFP's cache key (the image string) changes with the image's
    content; a file without one of the images is refused in one line."""
    references = _digest_file(tmp_path / "digests.json", IMAGES)
    out = tmp_path / "pipeline.yaml"
    subprocess.run([sys.executable, "pipeline.py", "compile", "--output", str(out),
                    "--digests", str(tmp_path / "digests.json")],
                   cwd=repo_root, check=True, capture_output=True)
    spec, _ = yaml.safe_load_all(out.read_text(encoding="utf-8"))
    executors = spec["deploymentSpec"]["executors"]
    for task, image in {**EXPECTED_IMAGE, "distill": "distiller"}.items():
        assert executors[_executor_of(spec, task)]["container"]["image"] == references[image]
    _digest_file(tmp_path / "three.json", IMAGES[:3])
    result, _ = _run_cli(repo_root, "compile", "--output", str(tmp_path / "x.yaml"),
                         "--digests", str(tmp_path / "three.json"))
    _assert_one_line_error(result)
    assert "no image reference by digest for distiller" in result.stderr
    assert not (tmp_path / "x.yaml").exists()


TAG_SCRIPT = "from components.images import default_tag; print(default_tag())"


def test_default_tag_changes_with_the_code(repo_root, tmp_path):
    """The default tag, read in a git checkout of the build inputs: the commit while they are
    committed, `<commit>-dirty-<hash>` with changes (another hash for other changes), the
    commit again once they are committed; files outside the images do not count."""
    import shutil

    for name in ("components", "images"):
        shutil.copytree(repo_root / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "wheels"))
    for name in ("constraints.txt", "pyproject.toml"):
        shutil.copy(repo_root / name, tmp_path / name)

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    def tag():
        return subprocess.run([sys.executable, "-c", TAG_SCRIPT], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "one")
    first = git("rev-parse", "--short=12", "HEAD")
    assert tag() == first
    (tmp_path / "notes.md").write_text("not in an image")
    assert tag() == first
    loop = tmp_path / "components" / "train" / "loop.py"
    loop.write_text(loop.read_text() + "\n# changed\n")
    changed = tag()
    assert changed.startswith(f"{first}-dirty-")
    loop.write_text(loop.read_text() + "# changed again\n")
    assert tag().startswith(f"{first}-dirty-") and tag() != changed
    git("commit", "-qam", "two")
    assert tag() == git("rev-parse", "--short=12", "HEAD") != first
    shutil.rmtree(tmp_path / ".git")
    assert tag().startswith("src-")


def test_compile_names_the_images_by_the_default_tag(repo_root, tmp_path):
    """Without --tag, pipeline.yaml names the tag `make images` builds from the same checkout:
    the commit, and a hash of the changes when there are any (which one is not compared: the
    files may change between two reads)."""
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo_root,
                            check=True, capture_output=True, text=True).stdout.strip()
    out = tmp_path / "pipeline.yaml"
    subprocess.run([sys.executable, "pipeline.py", "compile", "--output", str(out)],
                   cwd=repo_root, check=True, capture_output=True)
    spec, _ = yaml.safe_load_all(out.read_text(encoding="utf-8"))
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()
              if "container" in e}
    tags = {image.rsplit(":", 1)[1] for image in images}
    assert len(tags) == 1 and re.fullmatch(rf"{commit}(-dirty-[0-9a-f]{{12}})?", tags.pop())
    assert {image.rsplit(":", 1)[0] for image in images} == {
        f"ghcr.io/edu-mlm/edu-mlm-{name}" for name in IMAGES}


def test_a_rerun_reuses_the_tasks_whose_inputs_and_parameters_are_unchanged(tmp_path):
    """`rerun train` remakes what reads the new model and imports the base model's evaluation
    and conversion from the earlier run; a changed evaluation parameter reruns the evaluation,
    and so do unknown parameters (NAME=URI); a result the earlier run lacks is remade; the step
    asked for always reruns whole."""
    from kfp import compiler

    earlier = set(definition.ARTIFACTS)
    after_train = definition.downstream("train")
    reused = definition.reusable_tasks(after_train, earlier, set())
    assert reused == {"evaluate_base_model": ["base_eval"],
                      "convert_base_model": ["base_hf_model", "base_parity"]}
    assert list(definition.reusable_tasks(after_train, earlier, {"eval_batch_size"})) == \
        list(definition.reusable_tasks(after_train, earlier, None)) == ["convert_base_model"]
    assert list(definition.reusable_tasks(after_train, earlier - {"base_parity"}, set())) == \
        ["evaluate_base_model"]
    assert definition.reusable_tasks(["evaluate"], earlier, set()) == {}
    assert definition.reusable_tasks(definition.downstream("pretraining_data"), earlier,
                                     set()) == {}

    inputs = {name: (f"/runs/earlier/{name}", {}) for name in earlier}
    out = tmp_path / "rerun.yaml"
    compiler.Compiler().compile(definition.build_stage_pipeline(
        after_train, inputs, definition.Settings(), reused), str(out))
    spec, _ = yaml.safe_load_all(out.read_text(encoding="utf-8"))
    tasks = spec["root"]["dag"]["tasks"]
    assert "evaluate-trained-model" in tasks and "convert-trained-model" in tasks
    assert not {"evaluate-base-model", "convert-base-model"} & set(tasks)
    imported = {c["importer"]["artifactUri"]["constant"]
                for c in spec["deploymentSpec"]["executors"].values() if "importer" in c}
    assert {"/runs/earlier/base_eval", "/runs/earlier/base_hf_model"} <= imported
    report_inputs = tasks["report"]["inputs"]["artifacts"]
    assert report_inputs["base_eval"]["taskOutputArtifact"]["producerTask"].startswith("importer")
    assert set(spec["root"]["outputDefinitions"]["artifacts"]) >= {"trained_eval", "hf_model"}
    assert not {"base_eval", "base_hf_model"} & set(spec["root"]["outputDefinitions"]["artifacts"])
