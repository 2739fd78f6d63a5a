"""A full disk is the user's to fix: say so up front when we can, and in one line when we can't.

`check_free_space` compares an estimate of a stage's output with the free space where it will be
written, before hours of work. The estimate is never exact, so `write_errors_as_user_errors`
also turns the OS's "disk full" family of write failures into a `UserError` naming the output;
inside `atomic_output_dir` the half-written temporary directory is removed on the way out.
TensorFlow and safetensors report such failures in their own exception types, with the OS's
message inside ("... File too large [Op:SaveV2]", "I/O error: No space left on device (os error
28)"), so those are recognised by that message. `check_writable_location` refuses, before the
work, an output path that cannot become the file or directory it should be.
"""

import contextlib
import errno
import os
import shutil
import stat

from components.common.errors import UserError

# Write failures that mean "this place cannot take the output", not a bug in the stage.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
DISK_FULL_MESSAGES = tuple(os.strerror(code) for code in DISK_FULL_ERRNOS)


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


def describe_path(path):
    """What `path` is, as a message says it: "a file", "a directory", "a FIFO", ..."""
    mode = os.stat(path).st_mode
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a file"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "a device"


def check_writable_location(path, flag, expect="directory"):
    """Raise a UserError, before any work, when `path` could not be written as `expect`
    ("file" or "directory"). An existing one of that kind is fine: the stage replaces it (or,
    the trainer and distiller, resumes in it)."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        found = describe_path(path)
        if found != f"a {expect}":
            raise UserError(f"cannot write there: {flag} should be a {expect}, found {found}",
                            where=path, fix=f"pass another {flag}")
        # A file is replaced by a rename in its directory; a directory is written inside.
        target = path if expect == "directory" else os.path.dirname(path)
    else:
        target = _existing_ancestor(path)
        if not os.path.isdir(target):
            raise UserError(f"cannot write there: {target} should be a directory to create the "
                            f"{expect} in, found {describe_path(target)}", where=path,
                            fix=f"pass another {flag}")
    if not os.access(target, os.W_OK):
        raise UserError(f"cannot write there: {target} is not writable", where=path,
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


def _disk_full_reason(err):
    if isinstance(err, UserError):
        return None
    if isinstance(err, OSError):
        return err.strerror if err.errno in DISK_FULL_ERRNOS else None
    return next((message for message in DISK_FULL_MESSAGES if message in str(err)), None)


@contextlib.contextmanager
def write_errors_as_user_errors(path, flag="--output_dir"):
    """Re-raise a disk-full, quota, file-size or read-only write failure as a one-line UserError."""
    try:
        yield
    except Exception as err:
        reason = _disk_full_reason(err)
        if reason is None:
            raise
        raise UserError(f"writing the output failed: {reason}", where=path,
                        fix=f"free some space or pass another {flag}") from err
