"""Build (and push) the four stage images and the model server's: `make images REGISTRY=… TAG=…
[PUSH=1]`.

Each image is `REGISTRY/edu-mlm-<image>:TAG`, named by `components.images` (the same function the
KFP components take their `base_image` from, so what is built is what `pipeline.yaml` names).
TAG defaults to the code's (`components.images.default_tag`: the git commit), so a build of other
code never takes the tag of an earlier one. With --push, the registry's digest of each image is
written to --digests (`build/image-digests.json`), which `pipeline.py compile --digests` pins.
The build context is the repository root; `.dockerignore` sends only the package, its metadata
and constraints.txt. Works with docker (when a daemon answers) or podman.

Options for machines off the production path:
  --cpu            the trainer from python:3.11-slim + tensorflow-cpu instead of the GPU base, and
                   the distiller with the CPU torch wheel instead of the CUDA one
  --torch_wheels   a directory holding the torch CPU wheel, for when PyTorch's index is unreachable
                   (the converter's torch; the distiller's with --cpu)
  --ca_bundle      a CA bundle (holding a TLS-intercepting proxy's CA) that pip uses during the
                   build only, passed as a build secret; it never lands in an image. Default: the
                   bundle this machine's pip is told to use ($PIP_CERT), if any.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from components.common.artifacts import write_text_atomic  # noqa: E402
from components.common.errors import UserError, exit_on_user_error  # noqa: E402
from components.images import (  # noqa: E402
    DEFAULT_REGISTRY,
    SERVER_IMAGE,
    STAGE_IMAGE,
    default_tag,
    image,
    image_named,
)

IMAGES = ("dataprep", "trainer", "converter", "distiller")
# Built beside the stage images; KServe runs it (components/serve/manifest.py), not the pipeline.
ALL_IMAGES = (*IMAGES, SERVER_IMAGE)
WHEEL_DIR = REPO_ROOT / "images" / "converter" / "wheels"
CPU_BASE = "python:3.11-slim"
GPU_BASE = "tensorflow/tensorflow:2.21.0-gpu"
# The distiller's torch without --cpu is PyPI's CUDA build (its Dockerfile's default).
CPU_TORCH_PIP_ARGS = "--index-url https://download.pytorch.org/whl/cpu"
DIGESTS_FILE = REPO_ROOT / "build" / "image-digests.json"


def image_names(registry=None, tag=None):
    """{image: reference}, each taken from the first stage that runs in it."""
    first_stage = {}
    for stage, name in STAGE_IMAGE.items():
        first_stage.setdefault(name, stage)
    return {name: image(first_stage[name], registry, tag) for name in IMAGES}


def all_image_names(registry=None, tag=None):
    """{image: reference} of the stage images and the model server's."""
    return {**image_names(registry, tag), SERVER_IMAGE: image_named(SERVER_IMAGE, registry, tag)}


def detect_engine():
    """docker when its daemon answers, else podman; None when neither can build."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0:
        return "docker"
    if shutil.which("podman"):
        return "podman"
    return None


def stage_torch_wheels(source_dir):
    """Link (or copy) the torch wheels into the build context; return the pip arguments."""
    wheels = sorted(pathlib.Path(source_dir).glob("torch-*.whl"))
    if not wheels:
        raise UserError("no torch wheel found", where=str(source_dir),
                        fix="pip download torch==2.13.0 --no-deps -d DIR from the CPU index")
    for wheel in wheels:
        target = WHEEL_DIR / wheel.name
        if target.exists():
            continue
        try:
            os.link(wheel, target)
        except OSError:
            shutil.copy2(wheel, target)
    return "--no-index --find-links /wheels"


def local_torch_wheel_dir(dest):
    """Let this environment's pip fetch the torch==2.13.0 wheel it would install (no dependencies)
    into `dest`; return `dest` when that is a CPU build, else None (the build then uses PyTorch's
    CPU index)."""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                             "-d", str(dest), "torch==2.13.0"], capture_output=True, text=True)
    if result.returncode == 0 and any(dest.glob("torch-2.13.0+cpu-*.whl")):
        return dest
    return None


def build_arguments(name, cpu, torch_pip_args):
    args = []
    if name == "trainer" and cpu:
        args += ["--build-arg", f"BASE_IMAGE={CPU_BASE}",
                 "--build-arg", "TENSORFLOW_REQUIREMENT=tensorflow-cpu"]
    if name == "converter" and torch_pip_args:
        args += ["--build-arg", f"TORCH_PIP_ARGS={torch_pip_args}"]
    if name == "distiller" and cpu:
        args += ["--build-arg", f"TORCH_PIP_ARGS={torch_pip_args or CPU_TORCH_PIP_ARGS}"]
    return args


def ensure_base_image(engine, reference):
    """Fail with one line, before any build starts, when a base image can be neither found nor
    pulled (a machine without registry access)."""
    present = subprocess.run([engine, "image", "inspect", reference], capture_output=True)
    if present.returncode == 0:
        return
    print(f"pulling {reference}", flush=True)
    if subprocess.run([engine, "pull", reference], capture_output=True).returncode != 0:
        raise UserError(f"base image {reference} is neither present nor pullable",
                        where=f"{engine} pull {reference}",
                        fix="check registry access; without a registry, on podman: "
                            'eval "$(.venv/bin/python scripts/podman_local.py setup)"')


def image_size(engine, reference):
    result = subprocess.run([engine, "image", "inspect", "--format", "{{.Size}}", reference],
                            capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


def build_one(engine, name, reference, extra_args, ca_bundle):
    command = [engine, "build", "-f", f"images/{name}/Dockerfile", "-t", reference, *extra_args]
    if ca_bundle:
        command += ["--secret", f"id=ca_bundle,src={ca_bundle}"]
    command.append(".")
    print(f"building {reference}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    subprocess.run(command, cwd=REPO_ROOT, check=True,
                   env=dict(os.environ, DOCKER_BUILDKIT="1"))
    return time.monotonic() - started


def push(engine, reference):
    """Push `reference`; return it pinned by the digest the registry stored it under
    (`REPO:TAG@sha256:…`)."""
    if engine == "podman":
        with tempfile.TemporaryDirectory() as tmp:
            digest_file = pathlib.Path(tmp) / "digest"
            subprocess.run([engine, "push", "--digestfile", str(digest_file), reference],
                           check=True)
            return f"{reference}@{digest_file.read_text().strip()}"
    subprocess.run([engine, "push", reference], check=True)
    result = subprocess.run([engine, "image", "inspect", "--format", "{{json .RepoDigests}}",
                             reference], capture_output=True, text=True, check=True)
    repository = reference.rsplit(":", 1)[0]
    for pinned in json.loads(result.stdout) or ():
        if pinned.startswith(repository + "@"):
            return f"{reference}@{pinned.split('@', 1)[1]}"
    raise UserError(f"{engine} reports no digest for the pushed image", where=reference,
                    fix="push it again")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--registry", default=os.environ.get("EDU_MLM_REGISTRY", DEFAULT_REGISTRY),
                        help="image registry/namespace, e.g. registry.example.com/ml")
    parser.add_argument("--tag", default=os.environ.get("EDU_MLM_TAG") or default_tag(),
                        help="image tag ($EDU_MLM_TAG, else the code's: the git commit, with a "
                             "hash of the uncommitted changes when there are any)")
    parser.add_argument("--push", action="store_true", help="push each image after building it")
    parser.add_argument("--digests", type=pathlib.Path, default=DIGESTS_FILE,
                        help="with --push: where to write each pushed image's reference by digest "
                             "(JSON; pipeline.py compile --digests FILE pins them)")
    parser.add_argument("--engine", choices=["docker", "podman"], default=None,
                        help="container engine (default: docker when its daemon answers, "
                             "else podman)")
    parser.add_argument("--only", nargs="+", choices=ALL_IMAGES, default=list(ALL_IMAGES),
                        help="build only these images")
    parser.add_argument("--cpu", action="store_true",
                        help="build the trainer on python:3.11-slim with tensorflow-cpu and the "
                             "distiller with the CPU torch wheel (local runs, no GPU)")
    parser.add_argument("--torch_wheels", type=pathlib.Path, default=None,
                        help="directory with the torch CPU wheel (instead of PyTorch's CPU index) "
                             "for the converter, and for the distiller with --cpu")
    parser.add_argument("--ca_bundle", type=pathlib.Path, default=os.environ.get("PIP_CERT"),
                        help="CA bundle for pip during the build (a build secret, not stored)")
    parser.add_argument("--report", type=pathlib.Path, default=None,
                        help="write build seconds and image bytes per image to this JSON file")
    return parser


@exit_on_user_error
def main(argv=None):
    args = build_parser().parse_args(argv)
    engine = args.engine or detect_engine()
    if engine is None:
        raise UserError("neither a docker daemon nor podman is available",
                        fix="start docker, or install podman (scripts/podman_local.py install)")
    if args.ca_bundle and not args.ca_bundle.is_file():
        raise UserError("CA bundle not found", where=str(args.ca_bundle),
                        fix="pass a PEM file, e.g. /etc/ssl/certs/ca-certificates.crt")
    torch_pip_args = stage_torch_wheels(args.torch_wheels) if args.torch_wheels else None
    names = all_image_names(args.registry, args.tag)
    bases = {GPU_BASE if name == "trainer" and not args.cpu else CPU_BASE for name in args.only}
    for base in sorted(bases):
        ensure_base_image(engine, base)
    figures, pinned = {}, {}
    for name in args.only:
        seconds = build_one(engine, name, names[name],
                            build_arguments(name, args.cpu, torch_pip_args), args.ca_bundle)
        figures[name] = {"image": names[name], "build_seconds": round(seconds, 1),
                         "bytes": image_size(engine, names[name])}
        if args.push:
            pinned[name] = push(engine, names[name])
    print(f"{'image':<48} {'build s':>8} {'size MB':>8}")
    for figure in figures.values():
        print(f"{figure['image']:<48} {figure['build_seconds']:>8.1f} "
              f"{figure['bytes'] / 1e6:>8.0f}")
    if args.report:
        args.report.write_text(json.dumps(figures, indent=2) + "\n")
    if pinned:
        write_text_atomic(str(args.digests), json.dumps(pinned, indent=2) + "\n")
        print(f"wrote {args.digests}: compile with --digests {args.digests} to pin them")


if __name__ == "__main__":
    main()
