"""A full disk is the user's to fix: say so up front when we can, and in one line when we can't.

`check_free_space` compares an estimate of a stage's output with the free space where it will be
written, before hours of work. The estimate is never exact, so `write_errors_as_user_errors`
also turns the OS's "disk full" family of write failures into a `UserError` naming the output;
inside `atomic_output_dir` the half-written temporary directory is removed on the way out.
"""

import contextlib
import errno
import os
import shutil

from components.common.errors import UserError

# Write failures that mean "this place cannot take the output", not a bug in the stage.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _existing_ancestor(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _size(num_bytes):
    return f"{num_bytes / (1 << 20):.1f} MiB"


def check_writable_location(path, flag):
    """Raise a UserError, before any work, when `path` could not be created (as a file or dir)."""
    location = _existing_ancestor(path)
    if not os.path.isdir(location):
        raise UserError(f"cannot write there: {location} is not a directory", where=path,
                        fix=f"pass another {flag}")
    if not os.access(location, os.W_OK):
        raise UserError(f"cannot write there: {location} is not writable", where=path,
                        fix=f"pass another {flag}")


def check_free_space(path, needed_bytes, what="the output", flag="--output_dir"):
    """Raise a UserError when the filesystem holding `path` has less than `needed_bytes` free."""
    location = _existing_ancestor(path)
    if not os.path.isdir(location):
        return  # not a directory: the output stage reports that itself, more precisely
    free = shutil.disk_usage(location).free
    if free < needed_bytes:
        raise UserError(f"not enough disk space for {what}: about {_size(needed_bytes)} needed, "
                        f"{_size(free)} free", where=path,
                        fix=f"free some space or pass another {flag}")


@contextlib.contextmanager
def write_errors_as_user_errors(path, flag="--output_dir"):
    """Re-raise a disk-full, quota, file-size or read-only write failure as a one-line UserError."""
    try:
        yield
    except OSError as err:
        if err.errno not in DISK_FULL_ERRNOS:
            raise
        raise UserError(f"writing the output failed: {err.strerror}", where=path,
                        fix=f"free some space or pass another {flag}") from err
