"""Expensive test inputs built once per run, and machine-wide steps taken one at a time, when
`make test` runs the tests in several worker processes (pytest-xdist, one per core).

Each worker is its own pytest session, so a session-scoped fixture alone builds its inputs once
per worker. `built_once` builds them in the directory all the workers of one run share (the parent
of each worker's base temporary directory; the base directory itself without xdist), the first
worker behind a file lock, the others waiting for it and then reading what it built.

`machine_lock` serializes what no two processes of the machine may do at once (apt-get), across
workers and across test runs.
"""

import os
import pathlib
import shutil
import tempfile

from filelock import FileLock


def run_dir(tmp_path_factory):
    """The temporary directory every worker of this test run shares."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(tmp_path_factory, name, build):
    """The directory `<run dir>/<name>` after `build(directory)` filled it (made empty for it),
    once per run; treat it as read-only. A build that failed (in this worker or another) is
    started again."""
    root = run_dir(tmp_path_factory)
    directory, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            if directory.exists():
                shutil.rmtree(directory)
            directory.mkdir()
            build(directory)
            done.touch()
    return directory


def machine_lock(name):
    """A lock held by one process of this machine at a time (a file in the temp directory)."""
    return FileLock(str(pathlib.Path(tempfile.gettempdir()) / f"edu-mlm-{name}.lock"))
