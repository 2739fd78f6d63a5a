"""Podman on a machine without a Docker daemon or a reachable container registry.

What this machine needs before `make images` / `make run-containers` can work (each step is
idempotent; the state lives in one directory, $EDU_MLM_PODMAN_DIR or /tmp/edu-mlm-podman):

    .venv/bin/python scripts/podman_local.py install      # apt-get podman runc buildah debootstrap
    eval "$(.venv/bin/python scripts/podman_local.py env)"   # CONTAINERS_CONF/_STORAGE_CONF
    .venv/bin/python scripts/podman_local.py base-image   # python:3.11-slim, pulled or stand-in
    .venv/bin/python scripts/podman_local.py service start   # Docker API socket; DOCKER_HOST
    eval "$(.venv/bin/python scripts/podman_local.py setup)" # all of the above
    .venv/bin/python scripts/podman_local.py teardown     # stop the service, delete the store

Why each piece: crun fails here (cgroup v1), so the runtime is runc, which needs explicit
ulimits; a private store keeps the images out of /var/lib/containers and can be deleted in
one go; no registry can be reached, so the python:3.11-slim base is rebuilt from Debian
bookworm (debootstrap) plus this machine's CPython 3.11; a TLS-intercepting proxy needs the host's
extra CA certificates in the base's trust store; `kfp.local.DockerRunner` talks the Docker API,
which `podman system service` serves on a unix socket.
"""

import argparse
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time

STATE_DIR = pathlib.Path(os.environ.get("EDU_MLM_PODMAN_DIR", "/tmp/edu-mlm-podman"))
PYTHON_BASE = "docker.io/library/python:3.11-slim"
APT_PACKAGES = ("podman", "runc", "buildah", "debootstrap")
HOST_EXTRA_CA_DIR = pathlib.Path("/usr/local/share/ca-certificates")
DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"
# What python:3.11-slim installs besides CPython, and the libraries CPython's modules link.
STAND_IN_PACKAGES = ("ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libexpat1,"
                     "libreadline8,libncursesw6,libbz2-1.0,liblzma5,libuuid1,zlib1g")

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{state}/storage"
runroot = "{state}/run"
"""


def log(message):
    print(f"podman_local: {message}", file=sys.stderr, flush=True)


def conf_paths(state_dir=STATE_DIR):
    return state_dir / "containers.conf", state_dir / "storage.conf"


def socket_path(state_dir=STATE_DIR):
    return state_dir / "podman.sock"


def podman_env(state_dir=STATE_DIR):
    """The environment variables that point podman at the private configuration."""
    containers_conf, storage_conf = conf_paths(state_dir)
    return {"CONTAINERS_CONF": str(containers_conf),
            "CONTAINERS_STORAGE_CONF": str(storage_conf)}


def docker_host(state_dir=STATE_DIR):
    return f"unix://{socket_path(state_dir)}"


def install_packages():
    """apt-get the container tools unless they are all there already."""
    if all(shutil.which(tool) for tool in ("podman", "runc", "buildah", "debootstrap")):
        return
    log(f"installing {' '.join(APT_PACKAGES)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES],
                   check=True, env=env)


def write_configuration(state_dir=STATE_DIR):
    """Write containers.conf and storage.conf; return the environment that selects them."""
    state_dir.mkdir(parents=True, exist_ok=True)
    containers_conf, storage_conf = conf_paths(state_dir)
    containers_conf.write_text(CONTAINERS_CONF)
    storage_conf.write_text(STORAGE_CONF.format(state=state_dir))
    return podman_env(state_dir)


def podman(*args, state_dir=STATE_DIR, check=True, capture=False, stdin=None):
    env = dict(os.environ, **podman_env(state_dir))
    return subprocess.run(["podman", *args], env=env, check=check, stdin=stdin,
                          capture_output=capture, text=capture)


def image_exists(name, state_dir=STATE_DIR):
    return podman("image", "exists", name, state_dir=state_dir, check=False).returncode == 0


def debian_mirror():
    """The Debian mirror apt already uses (it is reachable), else deb.debian.org."""
    sources = sorted(pathlib.Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for line in path.read_text().splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if uri.rstrip("/").endswith("/debian"):
                        return uri.rstrip("/")
    listing = pathlib.Path("/etc/apt/sources.list")
    if listing.exists():
        for line in listing.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0] == "deb":
                uri = fields[1].rstrip("/")
                if uri.endswith("/debian"):
                    return uri
    return DEFAULT_DEBIAN_MIRROR


def host_python_prefix():
    """The installation prefix of this interpreter, when it can stand in for python:3.11-slim."""
    if sys.version_info[:2] != (3, 11) or sys.version_info < (3, 11, 5):
        raise RuntimeError(f"the stand-in needs a CPython 3.11.5+ to copy; this is {sys.version}")
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise RuntimeError("the stand-in copies a shared-library CPython build (--enable-shared)")
    return pathlib.Path(sys.base_prefix)


def install_python(rootfs, prefix):
    """Copy CPython (interpreter, libpython, stdlib; no site-packages) to /usr/local, as the
    official image has it, then bootstrap pip with ensurepip."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    local = rootfs / "usr/local"
    shutil.copy2(prefix / "bin" / version, local / "bin" / version)
    for link in ("python3", "python"):
        (local / "bin" / link).symlink_to(version)
    for library in (prefix / "lib").glob(f"lib{version}*.so*"):
        shutil.copy2(library, local / "lib" / library.name, follow_symlinks=True)
    shutil.copytree(prefix / "lib" / version, local / "lib" / version, symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "test", "__pycache__",
                                                  "idlelib", "turtledemo", "tkinter",
                                                  "config-*"))
    (local / "lib" / version / "site-packages").mkdir()
    chroot = shutil.which("chroot")
    subprocess.run([chroot, str(rootfs), "ldconfig"], check=True)
    subprocess.run([chroot, str(rootfs), "/usr/local/bin/python3", "-m", "ensurepip",
                    "--default-pip"], check=True, stdout=subprocess.DEVNULL,
                   env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root"})


def build_stand_in_base(state_dir=STATE_DIR, name=PYTHON_BASE, force=False):
    """Make and tag a python:3.11-slim look-alike: Debian bookworm minbase, the runtime
    libraries CPython links, this machine's CPython 3.11 copied to /usr/local (bookworm's own
    3.11.2 is too old for pinned packages that require 3.11.5+), LANG=C.UTF-8, and the host's
    extra CA certificates in the system trust store (pip uses its own bundle: builds behind a
    TLS-intercepting proxy still pass one as the `ca_bundle` build secret)."""
    if image_exists(name, state_dir) and not force:
        log(f"{name} already present")
        return
    if not force and podman("pull", "-q", name, state_dir=state_dir, check=False,
                            capture=True).returncode == 0:
        log(f"pulled {name}")
        return
    prefix = host_python_prefix()
    with tempfile.TemporaryDirectory(dir=state_dir, prefix="rootfs-") as workdir:
        rootfs = pathlib.Path(workdir) / "rootfs"
        mirror = debian_mirror()
        log(f"debootstrap bookworm (minbase + {STAND_IN_PACKAGES}) from {mirror}")
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={STAND_IN_PACKAGES}",
                        "bookworm", str(rootfs), mirror], check=True, stdout=subprocess.DEVNULL)
        extra_certs = sorted(HOST_EXTRA_CA_DIR.glob("*.crt")) if HOST_EXTRA_CA_DIR.is_dir() else []
        for cert in extra_certs:
            shutil.copy2(cert, rootfs / "usr/local/share/ca-certificates" / cert.name)
        if extra_certs:
            log(f"adding {len(extra_certs)} extra CA certificate(s) from {HOST_EXTRA_CA_DIR}")
            subprocess.run(["chroot", str(rootfs), "update-ca-certificates"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log(f"copying CPython {sys.version.split()[0]} from {prefix} to /usr/local")
        install_python(rootfs, prefix)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                      "usr/share/man", "usr/share/locale"):
            shutil.rmtree(rootfs / cache, ignore_errors=True)
            (rootfs / cache).mkdir(parents=True, exist_ok=True)
        log(f"importing the root filesystem as {name}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        podman("import", "--change", "ENV LANG=C.UTF-8",
               "--change", "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
               "--change", 'CMD ["python3"]', "-", name, state_dir=state_dir, stdin=tar.stdout,
               capture=True)
        tar.stdout.close()
        if tar.wait() != 0:
            raise RuntimeError("tar of the stand-in root filesystem failed")


def tolerate_vanished_containers():
    """podman 4.3's Docker API answers 500 "no such container" where Docker answers 404 when an
    auto-removed container is looked up as it goes away; kfp.local's DockerRunner (which always
    auto-removes) expects `docker.errors.NotFound` there. Raise that for this one case."""
    import docker.api.client
    import docker.errors

    if getattr(docker.api.client.create_api_error_from_http_exception, "tolerant", False):
        return
    create_error = docker.errors.create_api_error_from_http_exception

    def create_tolerant_error(http_error):
        try:
            create_error(http_error)
        except docker.errors.APIError as error:
            if error.status_code == 500 and "no such container" in str(error.explanation):
                raise docker.errors.NotFound(http_error, response=error.response,
                                             explanation=error.explanation) from http_error
            raise

    create_tolerant_error.tolerant = True
    docker.api.client.create_api_error_from_http_exception = create_tolerant_error


def service_pid_file(state_dir=STATE_DIR):
    return state_dir / "service.pid"


def service_running(state_dir=STATE_DIR):
    pid_file = service_pid_file(state_dir)
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (ProcessLookupError, ValueError):
        return False
    return socket_path(state_dir).exists()


def start_service(state_dir=STATE_DIR, timeout_s=30):
    """Serve the Docker API from podman on a unix socket; return the DOCKER_HOST value."""
    if service_running(state_dir):
        return docker_host(state_dir)
    socket_path(state_dir).unlink(missing_ok=True)
    env = dict(os.environ, **podman_env(state_dir))
    log_file = open(state_dir / "service.log", "ab")  # noqa: SIM115 - handed to the service
    process = subprocess.Popen(["podman", "system", "service", "--time=0", docker_host(state_dir)],
                               env=env, stdout=log_file, stderr=log_file,
                               start_new_session=True)
    service_pid_file(state_dir).write_text(str(process.pid))
    deadline = time.monotonic() + timeout_s
    while not socket_path(state_dir).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"podman system service did not start; see {state_dir}/service.log")
        time.sleep(0.2)
    return docker_host(state_dir)


def stop_service(state_dir=STATE_DIR):
    pid_file = service_pid_file(state_dir)
    if service_running(state_dir):
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    socket_path(state_dir).unlink(missing_ok=True)


def teardown(state_dir=STATE_DIR):
    """Stop the service and delete the private store (images included)."""
    stop_service(state_dir)
    if conf_paths(state_dir)[1].exists():
        podman("system", "reset", "--force", state_dir=state_dir, check=False, capture=True)
    shutil.rmtree(state_dir, ignore_errors=True)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["install", "env", "base-image", "service", "setup",
                                            "teardown"],
                        help="install: apt-get the tools; env: write the configuration and print "
                             "its exports; base-image: build the stand-in python:3.11-slim; "
                             "service start|stop: the Docker API socket; setup: all of these; "
                             "teardown: stop the service and delete the store")
    parser.add_argument("action", nargs="?", choices=["start", "stop"],
                        help="for `service`: start or stop")
    parser.add_argument("--state_dir", type=pathlib.Path, default=STATE_DIR,
                        help="where the configuration, the image store and the socket live")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    state_dir = args.state_dir.resolve()
    if args.command in ("install", "setup"):
        install_packages()
    if args.command in ("env", "base-image", "service", "setup"):
        env = write_configuration(state_dir)
    if args.command in ("base-image", "setup"):
        build_stand_in_base(state_dir)
    if args.command == "service" and args.action == "stop":
        stop_service(state_dir)
    elif args.command in ("service", "setup"):
        env["DOCKER_HOST"] = start_service(state_dir)
    if args.command == "teardown":
        teardown(state_dir)
    if args.command in ("env", "service", "setup") and args.action != "stop":
        for key, value in env.items():
            print(f"export {key}={value}")


if __name__ == "__main__":
    main()
