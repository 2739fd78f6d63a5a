"""The container image each pipeline stage runs in: one place for every component and the CLI.

Four images (ARCHITECTURE.md, "The stages"): `dataprep` (CPU, no TensorFlow), `trainer` (GPU,
TensorFlow), `converter` (TensorFlow CPU + torch CPU + transformers) and `distiller` (GPU, torch +
transformers, no TensorFlow). Names are `REGISTRY/edu-mlm-<image>:TAG`; `EDU_MLM_REGISTRY` and
`EDU_MLM_TAG` set the defaults, and `pipeline.py compile --registry R --tag T` overrides them per
compile.

The default tag names the code the image holds (`default_tag`): KFP's cache key holds the image
reference, not its digest, so a tag reused for other code would let a cached result of the old
code stand in for the new one, and a node with the old image under that tag would run it
(imagePullPolicy IfNotPresent). `pipeline.py compile --digests FILE` pins the references
`make images PUSH=1` pushed by digest.
"""

import hashlib
import os
import subprocess
from functools import cache

from components import stages

DEFAULT_REGISTRY = "ghcr.io/edu-mlm"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the images are built from (their Dockerfiles' COPY lines); the torch wheels are inputs
# of the build, not code.
BUILD_INPUTS = ("components", "images", "constraints.txt", "pyproject.toml")
SKIPPED_DIRS = {"__pycache__", "wheels"}

# The model server (components/serve): KServe runs it, not the pipeline.
SERVER_IMAGE = "server"

# The image each stage's tasks run in, from its spec (`components/<package>/spec.py`).
STAGE_IMAGE = {name: spec.image for name, spec in stages.all_specs().items()}


def _git(*args):
    result = subprocess.run(["git", "-C", REPO_ROOT, *args], capture_output=True, text=True,
                            check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def _build_files():
    for top in BUILD_INPUTS:
        path = os.path.join(REPO_ROOT, top)
        if os.path.isfile(path):
            yield path
            continue
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(set(dirs) - SKIPPED_DIRS)
            yield from (os.path.join(root, n) for n in sorted(names) if not n.endswith(".pyc"))


def source_hash():
    """sha256 (12 hex digits) of the files the images are built from, by path and content."""
    digest = hashlib.sha256()
    for file in _build_files():
        digest.update(os.path.relpath(file, REPO_ROOT).encode() + b"\0")
        with open(file, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:12]


@cache
def default_tag():
    """The git commit (12 hex digits) when the build inputs are committed; with uncommitted
    changes to them `<commit>-dirty-<source hash>`; outside a git checkout `src-<source hash>`.
    Different code, different tag."""
    commit = _git("rev-parse", "--short=12", "HEAD")
    if commit is None:
        return f"src-{source_hash()}"
    changed = _git("status", "--porcelain", "--untracked-files=all", "--", *BUILD_INPUTS)
    return f"{commit}-dirty-{source_hash()}" if changed else commit


def image(stage, registry=None, tag=None):
    """The image reference for `stage`, e.g. `ghcr.io/edu-mlm/edu-mlm-trainer:3f2c1a9b7d0e`."""
    return image_named(STAGE_IMAGE[stage], registry, tag)


def image_named(name, registry=None, tag=None):
    """The reference of image `name`: a stage's, or SERVER_IMAGE (no pipeline stage runs in it)."""
    registry = (registry or os.environ.get("EDU_MLM_REGISTRY") or DEFAULT_REGISTRY).rstrip("/")
    tag = tag or os.environ.get("EDU_MLM_TAG") or default_tag()
    return f"{registry}/edu-mlm-{name}:{tag}"
