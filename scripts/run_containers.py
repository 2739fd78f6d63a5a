"""`make run-containers`: the local pipeline run of `make run`, each step inside its own image.

Builds the four images (the trainer from its CPU variant; the torch of the converter and the
distiller from a local wheel directory when one is given or this environment's pip has the CPU
wheel at hand), then
runs `pipeline.py run-local` with kfp.local's DockerRunner instead of the SubprocessRunner.
With podman and no DOCKER_HOST, it first sets up podman for this machine
(scripts/podman_local.py: private store, stand-in base image, Docker API socket).

Containers run as the calling user (uid:gid), so what they write into the bind-mounted pipeline
root belongs to the caller, as with `make run`. The sample inputs that live outside the pipeline
root (data/sample, the sample database) are bind-mounted read-only at the same paths.
"""

import argparse
import os
import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import build_images  # noqa: E402
import podman_local  # noqa: E402

LOCAL_REGISTRY = "localhost/edu-mlm"
LOCAL_TAG = "local"
READ_ONLY_INPUTS = (REPO_ROOT / "data" / "sample", REPO_ROOT / "build")


def prepare_engine(engine):
    """Make the Docker API reachable; on bare podman, set up this machine's podman first."""
    if engine == "podman" and "DOCKER_HOST" not in os.environ:
        podman_local.install_packages()
        os.environ.update(podman_local.write_configuration())
        podman_local.build_stand_in_base()
        os.environ["DOCKER_HOST"] = podman_local.start_service()
    if engine == "podman":
        podman_local.tolerate_vanished_containers()


def docker_runner():
    import docker
    from kfp import local

    mounts = [docker.types.Mount(target=str(path), source=str(path), type="bind", read_only=True)
              for path in READ_ONLY_INPUTS if path.exists()]
    return local.DockerRunner(user=f"{os.getuid()}:{os.getgid()}", mounts=mounts)


def use_docker_runner():
    """Point the pipeline's local execution at DockerRunner (pipeline.py has no runner flag)."""
    from kfp import local

    from components.pipeline import local as pipeline_local

    def init_docker(pipeline_root, enable_caching):
        local.init(runner=docker_runner(), pipeline_root=pipeline_root,
                   enable_caching=enable_caching, raise_on_error=True)

    pipeline_local._init_local = init_docker


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["docker", "podman"], default=None,
                        help="container engine (default: docker when its daemon answers, "
                             "else podman)")
    parser.add_argument("--torch_wheels", type=pathlib.Path, default=None,
                        help="directory with the torch CPU wheel (instead of PyTorch's CPU index)")
    parser.add_argument("--ca_bundle", type=pathlib.Path, default=os.environ.get("PIP_CERT"),
                        help="CA bundle for pip during the builds (a build secret, not stored)")
    parser.add_argument("--skip_build", action="store_true",
                        help="use the images already built with --registry/--tag of this script")
    parser.add_argument("--pipeline_root", default=os.path.join("runs", "containers"),
                        help="where the container runs and their cache live")
    parser.epilog = "Other arguments go to `pipeline.py run-local` (e.g. --param k=v, --no-cache)."
    return parser


def main(argv=None):
    args, run_local_args = build_parser().parse_known_args(argv)
    engine = args.engine or build_images.detect_engine()
    prepare_engine(engine)
    if not args.skip_build:
        build_argv = ["--engine", engine, "--registry", LOCAL_REGISTRY, "--tag", LOCAL_TAG, "--cpu"]
        torch_wheels = args.torch_wheels or build_images.local_torch_wheel_dir(
            REPO_ROOT / "build" / "wheels")
        if torch_wheels:
            build_argv += ["--torch_wheels", str(torch_wheels)]
        if args.ca_bundle:
            build_argv += ["--ca_bundle", str(args.ca_bundle)]
        build_images.main(build_argv)
    # The components take their images from these (components/images.py).
    os.environ["EDU_MLM_REGISTRY"] = LOCAL_REGISTRY
    os.environ["EDU_MLM_TAG"] = LOCAL_TAG
    use_docker_runner()
    import pipeline

    pipeline.main(["run-local", "--pipeline-root", args.pipeline_root, *run_local_args])


if __name__ == "__main__":
    main()
