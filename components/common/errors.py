"""One error style for every stage: what went wrong, which input, what to do.

A `UserError` is a problem with the user's input or parameters. The CLIs print it as one line
(no traceback; the traceback goes to the debug log) and exit with `EXIT_USER_ERROR`. So do the
operating system's refusals a stage did not foresee (permission denied, disk full, read-only
file system): they too are the user's to fix, not bugs; other OSErrors keep their traceback.
"""

import contextlib
import errno
import functools
import logging
import os
import sys

EXIT_USER_ERROR = 2
ENVIRONMENT_ERRNOS = {
    errno.EACCES: "check the permissions of that path, or pass another one",
    errno.EPERM: "check the permissions of that path, or pass another one",
    errno.EROFS: "pass a path on a writable file system",
    errno.ENOSPC: "free some space, or pass a path on another file system",
    errno.EDQUOT: "free some space, or pass a path on another file system",
    errno.EFBIG: "free some space, or pass a path on another file system",
}

log = logging.getLogger(__name__)

# Where a pipeline step writes the UserError it stopped on, a file per process: set on each task
# of a local run (`definition.Settings.step_errors_dir`), whose runner reads the one line from
# there (`pipeline/local.py`), since kfp.local keeps a step's output nowhere but its console.
STEP_ERRORS_ENV = "EDU_MLM_STEP_ERRORS"


class UserError(Exception):
    """An input or parameter problem the user can fix.

    what:  what went wrong ("vocab has no [MASK] token")
    where: which input ("--vocab_file data/vocab.txt, line 104")
    fix:   what to do ("use the vocab.txt that ships with the model")
    """

    def __init__(self, what, where=None, fix=None):
        self.what, self.where, self.fix = what, where, fix
        super().__init__(self.one_line())

    def one_line(self):
        parts = [self.what]
        if self.where:
            parts.append(f"({self.where})")
        line = " ".join(parts)
        if self.fix:
            line += f"; {self.fix}"
        return line


def from_os_error(err):
    """The UserError for an OSError the user can fix (ENVIRONMENT_ERRNOS), else None."""
    fix = ENVIRONMENT_ERRNOS.get(err.errno)
    if fix is None:
        return None
    where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
    return UserError(err.strerror or str(err), where=where or None, fix=fix)


def exit_on_user_error(main):
    """Wrap a CLI `main(argv)` so a UserError ends the process with one line and a distinct code."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            log.debug("user error", exc_info=True)
            print(f"error: {err.one_line()}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        except OSError as err:
            user_error = from_os_error(err)
            if user_error is None:
                raise
            log.debug("operating system error", exc_info=True)
            print(f"error: {user_error.one_line()}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


@contextlib.contextmanager
def recording_step_error():
    """Run a pipeline step's body (the generated KFP components do); a UserError it stops on is
    also written, as its one line, to a file in $EDU_MLM_STEP_ERRORS when that is set, then
    raised on as it was."""
    try:
        yield
    except UserError as err:
        directory = os.environ.get(STEP_ERRORS_ENV)
        if directory:
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, f"{os.getpid()}.txt"), "w", encoding="utf-8") as f:
                f.write(err.one_line())
        raise
