"""The checkpoint volume as a cluster hands it to the train and distill tasks.

A fresh PersistentVolume's root is root:root 0755, and the images run as uid 10001 (their
`USER`), which the KFP drivers of Kubeflow 1.10 (2.4.1/2.5) cannot change (no pod
securityContext/fsGroup there). The trainer and the distiller, run as that user against such a
directory, must stop in one line that names the one-time Job of `pipeline.py checkpoint-volume`,
before any training step; after what that Job does (chown to 10001, mode 0775) the same command
trains. No cluster or image runs here: the user is switched with setuid in the child process
(these tests run as root); where this Python lies under a directory other users cannot enter
(pyenv in /root), the child keeps CAP_DAC_READ_SEARCH to reach it, which lets it read and search
any directory but write none it does not own. A run that is not root uses its own user and a
0555 directory it owns, which refuses it the same way.
"""

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml
from helpers_train import SAMPLE_DIR, write_pretraining_data

from components.common.run_state import CLAIM_ENV, checkpoint_dir_for
from components.pipeline import volume
from tests.helpers_distill import copy_dir, teacher_and_data

AS_ROOT = os.geteuid() == 0
TASK_UID = volume.TASK_UID
CLAIM = "team-a-checkpoints"
# The output URI the KFP driver gives the train task's model (driver.go provisionOutputs).
MODEL_URI = ("minio://mlpipeline/v2/artifacts/edu-mlm/0b8e5c3a-run/train/"
             "5d0e7a8c-1f2b-4c3d-9e8f-0a1b2c3d4e5f/model")


@pytest.fixture(scope="module")
def shared_dir():
    """A directory the task user can read (pytest's own temporary directories are 0700)."""
    path = tempfile.mkdtemp(prefix="edu-mlm-volume-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def fresh_volume(parent, name):
    """A directory like a fresh volume's root: not writable by the task user."""
    path = os.path.join(parent, name)
    os.mkdir(path)
    os.chmod(path, 0o755 if AS_ROOT else 0o555)
    return path


def readable_by_all(*paths):
    for path in paths:
        os.chmod(path, 0o755)
        for root, dirs, files in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)


def hand_to_task_user(path, mode=0o775):
    """What the Job of `pipeline.py checkpoint-volume` does to the volume's root."""
    if AS_ROOT:
        os.chown(path, TASK_UID, TASK_UID)
    os.chmod(path, mode)


def writable_dir(parent, name):
    path = os.path.join(parent, name)
    os.mkdir(path)
    hand_to_task_user(path, 0o755)
    return path


def _reachable_by_others(path):
    """Whether a user with no special rights can search every directory above `path`."""
    parent = os.path.dirname(os.path.realpath(path))
    while parent != "/":
        if not os.stat(parent).st_mode & 0o001:
            return False
        parent = os.path.dirname(parent)
    return True


# <linux/capability.h>, <linux/prctl.h>
CAP_DAC_READ_SEARCH, CAPABILITY_VERSION_3 = 2, 0x20080522
PR_SET_KEEPCAPS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 8, 47, 2


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _become_task_user(keep_read_search):
    """In the child, before exec: uid/gid TASK_UID; with `keep_read_search`, CAP_DAC_READ_SEARCH
    kept across the exec (permitted, inheritable and ambient), and no other capability."""
    libc = ctypes.CDLL(None, use_errno=True)
    if keep_read_search:
        libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setgid(TASK_UID)
    os.setuid(TASK_UID)
    if keep_read_search:
        bit = 1 << CAP_DAC_READ_SEARCH
        data = (_CapData * 2)(_CapData(bit, bit, bit), _CapData(0, 0, 0))
        if libc.capset(ctypes.byref(_CapHeader(CAPABILITY_VERSION_3, 0)), data) != 0 or \
                libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot keep CAP_DAC_READ_SEARCH")


def run_as_task_user(args, repo_root, home, env=None):
    keep_read_search = not _reachable_by_others(sys.executable)

    def drop_root():
        _become_task_user(keep_read_search)

    return subprocess.run([sys.executable, *map(str, args)], cwd=repo_root,
                          env={**os.environ, "HOME": home, **(env or {})},
                          preexec_fn=drop_root if AS_ROOT else None,  # noqa: PLW1509
                          capture_output=True, text=True, timeout=600)


def assert_stopped_naming_the_job(result, claim="CLAIM", only_line=True):
    """Exit 2 and the error line last, no traceback; `only_line`: nothing else on stderr (the
    CLIs' imports may log first: TensorFlow's start-up, matplotlib's font cache)."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 or not only_line, result.stderr[-3000:]
    assert not [line for line in lines if re.search(r"\bstep\b", line)], result.stderr
    line = lines[-1]
    assert line.startswith("error: cannot write the resumable state: "), line
    assert f"is not writable by uid {TASK_UID if AS_ROOT else os.getuid()}" in line, line
    assert f"python pipeline.py checkpoint-volume --job-only --checkpoint-pvc {claim} " \
           "| kubectl -n NAMESPACE apply -f -" in line, line


@pytest.fixture(scope="module")
def train_inputs(shared_dir):
    from components.bert.arguments import BertInitArguments
    from components.bert.init import init_random_model

    base = os.path.join(shared_dir, "base")
    init_random_model(BertInitArguments(str(SAMPLE_DIR / "bert_config.json"),
                                        str(SAMPLE_DIR / "vocab.txt"), base, random_seed=1))
    data = os.path.join(shared_dir, "data")
    write_pretraining_data(data, max_seq_length=32, max_predictions_per_seq=5)
    readable_by_all(base, data)
    return base, data


@pytest.mark.slow
def test_trainer_stops_in_one_line_on_a_fresh_volume_then_trains_once_it_is_handed_over(
        train_inputs, shared_dir, repo_root):
    base, data = train_inputs
    mount = fresh_volume(shared_dir, "train-volume")
    home, output = writable_dir(shared_dir, "train-home"), writable_dir(shared_dir, "model")
    state = checkpoint_dir_for(mount, MODEL_URI)
    command = ["-m", "components.train", "--input_dir", data, "--output_dir", output,
               "--checkpoint_dir", state, "--bert_config_file", f"{base}/bert_config.json",
               "--init_checkpoint", f"{base}/bert_model.ckpt", "--train_batch_size", 4,
               "--max_seq_length", 32, "--max_predictions_per_seq", 5,
               "--num_train_steps", 2, "--num_warmup_steps", 1, "--save_checkpoints_steps", 1]
    assert_stopped_naming_the_job(run_as_task_user(command, repo_root, home),
                                  only_line=False)
    assert os.listdir(output) == [] and os.listdir(mount) == []  # no step was spent

    hand_to_task_user(mount)
    result = run_as_task_user(command, repo_root, home)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(open(os.path.join(output, "manifest.json")).read())["global_step"] == 2
    assert os.stat(state).st_uid == (TASK_UID if AS_ROOT else os.getuid())
    assert any(name.startswith("ckpt") or name == "checkpoint" for name in os.listdir(state))


@pytest.mark.slow
def test_distiller_stops_in_one_line_on_a_fresh_volume_then_trains_once_it_is_handed_over(
        tmp_path_factory, shared_dir, repo_root):
    inputs = teacher_and_data(tmp_path_factory)
    teacher = copy_dir(inputs.teacher_dir, os.path.join(shared_dir, "teacher"))
    data = copy_dir(inputs.data_dir, os.path.join(shared_dir, "distill-data"))
    readable_by_all(teacher, data)
    mount = fresh_volume(shared_dir, "distill-volume")
    home, output = writable_dir(shared_dir, "distill-home"), writable_dir(shared_dir, "student")
    state = os.path.join(mount, "run-1-distill")
    command = ["-m", "components.distill", "--teacher_dir", teacher, "--input_dir", data,
               "--output_dir", output, "--checkpoint_dir", state, "--num_train_steps", 2,
               "--student_num_hidden_layers", 2, "--train_batch_size", 4,
               "--num_warmup_steps", 1, "--do_eval", "false"]
    env = {CLAIM_ENV: CLAIM, "OMP_NUM_THREADS": "1"}
    assert_stopped_naming_the_job(run_as_task_user(command, repo_root, home, env), CLAIM,
                                  only_line=False)
    assert os.listdir(output) == [] and os.listdir(mount) == []

    hand_to_task_user(mount)
    result = run_as_task_user(command, repo_root, home, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(open(os.path.join(output, "manifest.json")).read())["global_step"] == 2
    assert os.listdir(state)


TASK_SCRIPT = """
import sys
from types import SimpleNamespace as Artifact
stage, root, uri = sys.argv[1:]
if stage == "train":
    from components.train.arguments import TrainArguments
    from components.train.tasks import run_train_task
    run_train_task(Artifact(path="/no-data"), Artifact(path="/no-model"),
                   Artifact(path="/no-output", uri=uri, metadata={}), Artifact(),
                   TrainArguments.from_run_values(), num_gpus=1, checkpoint_root=root)
else:
    from components.distill.arguments import DistillArguments
    from components.distill.tasks import run_distill_task
    run_distill_task(Artifact(path="/no-teacher"), Artifact(path="/no-data"),
                     Artifact(path="/no-output", uri=uri, metadata={}), Artifact(),
                     DistillArguments.from_run_values(num_train_steps=10, num_warmup_steps=1),
                     num_gpus=1, checkpoint_root=root)
"""


@pytest.mark.parametrize("stage", ["train", "distill"])
def test_pipeline_tasks_stop_in_one_line_naming_their_claim(stage, shared_dir, repo_root):
    """The functions the KFP components call (the container's command runs them), with the
    claim's name in the environment as the compiled pipeline sets it: one line, exit 2 (the
    KFP executor would print a traceback for an exception), before the task reads its inputs
    (which do not exist here)."""
    mount = fresh_volume(shared_dir, f"{stage}-task-volume")
    home = writable_dir(shared_dir, f"{stage}-task-home")
    result = run_as_task_user(["-c", TASK_SCRIPT, stage, mount, MODEL_URI], repo_root, home,
                              {CLAIM_ENV: CLAIM})
    assert_stopped_naming_the_job(result, CLAIM)
    assert os.listdir(mount) == []


def test_checkpoint_volume_prints_a_shared_claim_and_the_job_that_hands_it_over(repo_root):
    """`pipeline.py checkpoint-volume`: a ReadWriteMany claim (overlapping runs and a retried
    pod on another node mount it at once: no Multi-Attach wait) and a Job, as root, that gives
    its root to the uid every image's Dockerfile runs as."""
    users = {re.search(r"^USER (\d+)$", (repo_root / "images" / name / "Dockerfile").read_text(),
                       re.M).group(1) for name in ("dataprep", "trainer", "converter",
                                                   "distiller")}
    assert users == {str(TASK_UID)}
    result = subprocess.run([sys.executable, "pipeline.py", "checkpoint-volume",
                             "--checkpoint-pvc", CLAIM, "--namespace", "team-a",
                             "--registry", "registry.test/ml", "--tag", "t9",
                             "--image-pull-secret", "regcred"],
                            cwd=repo_root, capture_output=True, text=True, check=True)
    claim, job = yaml.safe_load_all(result.stdout)
    assert claim["kind"] == "PersistentVolumeClaim" and claim["metadata"]["name"] == CLAIM
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["namespace"] == job["metadata"]["namespace"] == "team-a"
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 0
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == CLAIM
    container = pod["containers"][0]
    assert container["image"] == "registry.test/ml/edu-mlm-dataprep:t9"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    mount = container["volumeMounts"][0]["mountPath"]
    assert f"chown {TASK_UID}:{TASK_UID} {mount}" in container["command"][-1]
    assert job["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == \
        "false"
    only_job = subprocess.run([sys.executable, "pipeline.py", "checkpoint-volume", "--job-only"],
                              cwd=repo_root, capture_output=True, text=True, check=True)
    assert [d["kind"] for d in yaml.safe_load_all(only_job.stdout)] == ["Job"]


def test_runs_get_their_own_state_and_a_retry_finds_its_own():
    """Two runs (another run id in the output URI) never share a state directory; a retried
    pod finds its own again: the retry strategy is on the executor's template, which gets the
    driver's pod-spec patch (the executor input with the output URI the driver drew) as a
    parameter, and the driver does not run again (kubeflow/pipelines backend/src/v2/compiler/
    argocompiler/container.go addContainerExecutorTemplate at 2.4.1; driver.go
    provisionOutputs draws the URI's uuid). A UI Retry keeps the nodes that succeeded, the
    driver's among them (backend/src/common/util/workflow.go GenerateRetryExecution, 2.4.1)."""
    other_run = MODEL_URI.replace("0b8e5c3a-run", "7f1d2e9b-run")
    root = "/mnt/edu-mlm-checkpoints"
    assert checkpoint_dir_for(root, MODEL_URI) == checkpoint_dir_for(root, MODEL_URI)
    assert checkpoint_dir_for(root, MODEL_URI) != checkpoint_dir_for(root, other_run)
    name = os.path.basename(checkpoint_dir_for(root, MODEL_URI))
    assert re.fullmatch(r"mlpipeline_v2_artifacts_edu-mlm_0b8e5c3a-run_train_"
                        r"5d0e7a8c-1f2b-4c3d-9e8f-0a1b2c3d4e5f_model-[0-9a-f]{12}", name), name
