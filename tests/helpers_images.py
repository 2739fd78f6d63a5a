"""Building and running the stage images in tests (tests/test_images.py).

A private podman store per test module (scripts/podman_local.py), deleted afterwards (or the
store $EDU_MLM_TEST_PODMAN_DIR, reused and kept: a warm layer cache while changing the images).
Images are built by the same script `make images` runs, the trainer from its CPU variant and the
converter's torch from the CPU wheel this environment's pip has at hand. Steps run through
kfp.local's DockerRunner against podman's Docker API socket.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import build_images  # noqa: E402
import podman_local  # noqa: E402

REGISTRY = "localhost/edu-mlm-test"
TAG = "test"
# A CA bundle holding the TLS-intercepting proxy's CA when there is one (this machine: PIP_CERT).
CA_BUNDLE = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
# For iterating on the images: an existing store to build into (layer cache) and keep afterwards.
KEPT_STORE = os.environ.get("EDU_MLM_TEST_PODMAN_DIR")
# Installed by pip, not pinned: the package itself and pip's own tools.
UNPINNED = {"edu-mlm", "pip", "setuptools", "wheel"}


class Podman:
    """A private podman store, its Docker API socket, and the images built into it."""

    def __init__(self, state_dir, env, docker_host):
        self.state_dir, self.env, self.docker_host = state_dir, env, docker_host
        self.build_figures = {}

    def run(self, *args, check=True):
        return subprocess.run(["podman", *args], env=dict(os.environ, **self.env), check=check,
                              capture_output=True, text=True)

    def build(self, name, extra_args=()):
        """Build image `name` with scripts/build_images.py; return its reference."""
        report = self.state_dir / f"build-{name}.json"
        command = [sys.executable, str(REPO_ROOT / "scripts" / "build_images.py"),
                   "--engine", "podman", "--registry", REGISTRY, "--tag", TAG, "--only", name,
                   "--report", str(report), *extra_args]
        if pathlib.Path(CA_BUNDLE).is_file():
            command += ["--ca_bundle", CA_BUNDLE]
        result = subprocess.run(command, env=dict(os.environ, **self.env), capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        self.build_figures.update(json.loads(report.read_text()))
        return build_images.all_image_names(REGISTRY, TAG)[name]

    def python(self, image, code):
        """Run `python3 -c code` in `image` as its default user; return stdout."""
        return self.run("run", "--rm", image, "python3", "-c", code).stdout

    def installed(self, image):
        """{canonical name: version} of what pip installed in `image`."""
        listing = self.run("run", "--rm", image, "python3", "-m", "pip", "list",
                           "--format=json").stdout
        return {canonical(entry["name"]): entry["version"] for entry in json.loads(listing)}


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints():
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonical(name)] = version
    return pins


def start_podman():
    podman_local.install_packages()
    if KEPT_STORE:
        state_dir = pathlib.Path(KEPT_STORE).resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
    else:
        state_dir = pathlib.Path(tempfile.mkdtemp(prefix="edu-mlm-podman-test-"))
    env = podman_local.write_configuration(state_dir)
    started = time.monotonic()
    podman_local.build_stand_in_base(state_dir)
    engine = Podman(state_dir, env, podman_local.start_service(state_dir))
    engine.build_figures["base"] = {"build_seconds": round(time.monotonic() - started, 1)}
    return engine


def stop_podman(engine):
    print("\nimage build figures:", json.dumps(engine.build_figures, indent=1))
    if not KEPT_STORE:
        podman_local.teardown(engine.state_dir)


def torch_wheel_dir(tmp_dir):
    wheels = build_images.local_torch_wheel_dir(tmp_dir)
    assert wheels, "this environment's pip has no torch==2.13.0+cpu wheel at hand"
    return wheels


def docker_runner(engine, read_only_paths, user=None):
    """kfp.local's DockerRunner on the engine's socket, `read_only_paths` bind-mounted at the same
    paths; `user` overrides the image's user."""
    import docker
    from kfp import local

    os.environ["DOCKER_HOST"] = engine.docker_host
    podman_local.tolerate_vanished_containers()
    mounts = [docker.types.Mount(target=str(path), source=str(path), type="bind", read_only=True)
              for path in read_only_paths]
    extra = {"user": user} if user else {}
    return local.DockerRunner(mounts=mounts, **extra)


def run_stage(runner, pipeline_root, stage, inputs=None, **arguments):
    """Run one stage of the pipeline (as `pipeline.py rerun` builds it) with `runner`; return its
    output artifacts {name: artifact}."""
    from kfp import local

    from components.pipeline import definition

    pipeline_root.mkdir(parents=True, exist_ok=True)
    local.init(runner=runner, pipeline_root=str(pipeline_root), enable_caching=False,
               raise_on_error=True)
    # As run-local builds it: no GPU to ask for or expect, the training state in the model.
    settings = definition.Settings(registry=REGISTRY, tag=TAG, retries=0, num_gpus=0,
                                   checkpoint_pvc="", checkpoint_root="")
    pipeline_func = definition.build_stage_pipeline(
        [stage], {name: (artifact_dir(path), {}) for name, path in (inputs or {}).items()},
        settings)
    return pipeline_func(**arguments).outputs


def artifact_dir(path):
    return str(pathlib.Path(path).resolve())


def tfrecords(directory):
    """{file name: bytes} of the TFRecord files of a pretraining-data directory."""
    return {path.name: path.read_bytes()
            for path in sorted(pathlib.Path(directory).glob("*.tfrecord"))}
