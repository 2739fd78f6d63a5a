"""The image definitions without building them: hadolint, pinned requirements, and the images
`pipeline.yaml` names against the images `make images` builds (tests/test_images.py builds and
runs them)."""

import ast
import os
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from components.pipeline import code, placement

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import build_images  # noqa: E402

IMAGES_DIR = REPO_ROOT / "images"
HADOLINT = pathlib.Path(sys.executable).parent / "hadolint"


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path):
    """Distribution names of a requirements file, following `-r` includes."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            names |= requirement_names(path.parent / line[3:].strip())
        else:
            names.add(canonical(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]))
    return names


def constraints():
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonical(name)] = version
    return pins


def project_dependency_names():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return {canonical(re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0])
            for dep in project["dependencies"]}


@pytest.mark.parametrize("image", build_images.IMAGES)
def test_dockerfile_is_hadolint_clean(image):
    result = subprocess.run([str(HADOLINT), str(IMAGES_DIR / image / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("image", build_images.IMAGES)
def test_every_requirement_is_pinned_by_the_constraints_file(image):
    names = requirement_names(IMAGES_DIR / image / "requirements.txt")
    assert project_dependency_names() <= names
    assert names - set(constraints()) == set()


def test_base_requirements_are_the_package_dependencies():
    assert requirement_names(IMAGES_DIR / "requirements-base.txt") == project_dependency_names()


def test_dataprep_image_has_neither_tensorflow_nor_torch():
    forbidden = {"tensorflow", "tensorflow-cpu", "torch", "transformers"}
    assert not requirement_names(IMAGES_DIR / "dataprep" / "requirements.txt") & forbidden
    assert not project_dependency_names() & forbidden


def tensorflow_importers(package):
    """The modules that `package` imports, transitively and itself included, which import
    TensorFlow anywhere (inside functions too)."""
    graph = code.module_graph()
    todo = [module for module in graph if code.package_of(module) == package]
    seen = set()
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    found = set()
    for module in seen:
        path = REPO_ROOT.joinpath(*module.split("."))
        source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] == "tensorflow" for name in names):
                found.add(module)
    return found


def test_distiller_image_has_torch_and_no_tensorflow():
    names = requirement_names(IMAGES_DIR / "distiller" / "requirements.txt")
    assert {"torch", "transformers", "safetensors"} <= names
    assert not names & {"tensorflow", "tensorflow-cpu"}
    dockerfile = (IMAGES_DIR / "distiller" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in dockerfile


def test_the_distill_stage_imports_no_tensorflow():
    """Its image has none: not the stage nor anything it imports may reach for it."""
    assert "components.distill" in code.module_graph()
    assert tensorflow_importers("distill") == set()
    assert "components.train.loop" in tensorflow_importers("train")


def test_distiller_torch_is_the_cuda_build_unless_cpu():
    """Without --cpu the Dockerfile's default (PyPI's Linux torch, built with CUDA); with --cpu
    the CPU wheel, from PyTorch's CPU index or a local wheel directory."""
    dockerfile = (IMAGES_DIR / "distiller" / "Dockerfile").read_text()
    assert 'ARG TORCH_PIP_ARGS=""' in dockerfile
    assert build_images.build_arguments("distiller", False, None) == []
    assert build_images.build_arguments("distiller", False, "--no-index --find-links /wheels") == []
    assert build_images.build_arguments("distiller", True, None) == [
        "--build-arg", "TORCH_PIP_ARGS=--index-url https://download.pytorch.org/whl/cpu"]
    assert build_images.build_arguments("distiller", True, "--no-index --find-links /wheels") == [
        "--build-arg", "TORCH_PIP_ARGS=--no-index --find-links /wheels"]


def test_what_the_gpu_distiller_adds_is_pinned_exactly_and_only_there():
    """PyPI's CUDA torch brings CUDA libraries the CPU venv's constraints.txt cannot pin."""
    lines = [line for line in (IMAGES_DIR / "distiller" / "constraints-cuda.txt").read_text()
             .splitlines() if line and not line.startswith("#")]
    pins = dict(line.split("==") for line in lines)
    assert all(re.fullmatch(r"[\w.-]+==[\w.]+", line) for line in lines), lines
    assert {"cuda-toolkit", "nvidia-cudnn-cu13", "nvidia-nccl-cu13", "triton"} <= set(pins)
    assert {canonical(name) for name in pins} & set(constraints()) == set()


def test_converter_torch_is_the_pinned_cpu_build():
    assert constraints()["torch"] == "2.13.0"
    dockerfile = (IMAGES_DIR / "converter" / "Dockerfile").read_text()
    assert 'TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"' in dockerfile


@pytest.mark.parametrize("image", build_images.IMAGES)
def test_dockerfile_runs_as_a_non_root_user_and_holds_no_secret(image):
    dockerfile = (IMAGES_DIR / image / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    # The proxy CA bundle is a build secret mount, never COPY'd or ARG'd into a layer.
    assert not re.search(r"^(COPY|ADD|ARG|ENV)\b.*(cert|secret|token|password)", dockerfile,
                         flags=re.MULTILINE | re.IGNORECASE)
    # The user owns the launcher's artifact roots of backends before 2.3 (kubeflow/pipelines#10857).
    assert "install -d -o 10001 -g 10001 /minio /s3 /gcs" in dockerfile
    assert "USER 10001" in dockerfile


def test_compiled_pipeline_names_exactly_the_images_make_images_builds(tmp_path):
    registry, tag = "registry.example.com/ml", "1.2.3"
    package = tmp_path / "pipeline.yaml"
    subprocess.run([sys.executable, str(REPO_ROOT / "pipeline.py"), "compile", "--output",
                    str(package), "--registry", registry, "--tag", tag],
                   check=True, cwd=REPO_ROOT, capture_output=True)
    documents = list(yaml.safe_load_all(package.read_text()))
    executors = documents[0]["deploymentSpec"]["executors"]
    compiled = {executor["container"]["image"] for executor in executors.values()
                if "container" in executor}  # the others are importers
    built = set(build_images.image_names(registry, tag).values())
    assert compiled == built
    assert built == {f"{registry}/edu-mlm-{name}:{tag}" for name in build_images.IMAGES}


FAKE_ENGINE = """#!/bin/sh
# Stands in for a container engine's push (no registry can run here): logs its arguments,
# then answers as docker/podman do once a registry has stored the image.
echo "$@" >> "$ENGINE_LOG"
case "$1 $2" in
  "push --digestfile") printf 'sha256:%064d' 7 > "$3" ;;
  "image inspect") printf '["other.test/x@sha256:%064d","%s@sha256:%064d"]\\n' 1 "$REPOSITORY" 9 ;;
esac
"""


@pytest.mark.parametrize("engine, digit", [("podman", 7), ("docker", 9)])
def test_push_returns_the_reference_pinned_by_the_registrys_digest(engine, digit, tmp_path,
                                                                   monkeypatch):
    """scripts/build_images.py's push: podman's --digestfile, or docker's RepoDigests entry of
    the image's own repository (not another one's). The engine is a stand-in script: pushing
    needs a registry, which cannot run here."""
    fake = tmp_path / engine
    fake.write_text(FAKE_ENGINE)
    fake.chmod(0o755)
    reference = "registry.test/ml/edu-mlm-trainer:abc123"
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("ENGINE_LOG", str(tmp_path / "log"))
    monkeypatch.setenv("REPOSITORY", reference.rsplit(":", 1)[0])
    pinned = build_images.push(engine, reference)
    assert pinned == f"{reference}@sha256:{digit:064d}"
    assert placement.DIGEST_REFERENCE.match(pinned)  # what compile --digests accepts
    first_call = (tmp_path / "log").read_text().splitlines()[0].split()
    assert first_call[0] == "push" and first_call[-1] == reference
