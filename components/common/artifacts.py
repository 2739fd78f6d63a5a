"""Artifact directories that are either complete or absent.

Every stage writes its output directory under a temporary sibling name and renames it into place
only after `manifest.json` (written last) is there. A reader refuses a directory without a
manifest, so a half-written output can never be mistaken for a finished one.
"""

import contextlib
import glob
import hashlib
import json
import logging
import os
import shutil
import uuid

from components.common.disk import describe_path
from components.common.errors import UserError

MANIFEST = "manifest.json"

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_file(path, mode="w"):
    """Yield a file opened in `mode` under a temporary sibling name of `path`; once the block
    ends it is synced and renamed to `path`, and if the block fails it is removed."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_text_atomic(path, text):
    """Write `text` to `path` (its directory created) through a temporary file and a rename."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_file(path) as f:
        f.write(text)


def copy_file_atomic(source, target):
    """Copy `source` to `target` through a temporary file and a rename."""
    tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_json_atomic(path, obj):
    """Write JSON to `path` through a temporary file and a rename."""
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def _check_writable_parent(path):
    parent = os.path.dirname(os.path.abspath(path)) or "."
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the output's parent directory: {err.strerror}",
                        where=parent, fix="choose an output directory you can write to") from err
    if not os.access(parent, os.W_OK):
        raise UserError("the output directory is not writable", where=parent,
                        fix="choose an output directory you can write to")


def _remove_leftovers(path):
    """Delete `path.tmp-*` / `path.old-*` siblings: the debris of runs killed mid-write."""
    pattern = glob.escape(path) + ".{}-*"
    for leftover in glob.glob(pattern.format("tmp")) + glob.glob(pattern.format("old")):
        log.info("removing %s, left behind by an interrupted earlier run", leftover)
        if os.path.isdir(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def _earlier_output(path):
    """The manifest of the earlier output at `path`; None when there is none (no directory, or
    an empty one: KFP creates output directories before the step runs). A directory of files no
    stage wrote (no readable manifest) is refused: replacing it would delete them."""
    if not os.path.isdir(path) or not os.listdir(path):
        return None
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise UserError(f"the output directory holds files but no readable {MANIFEST}, so no "
                        "earlier run wrote it, and replacing it would delete them", where=path,
                        fix="pass a new or empty output directory") from err


@contextlib.contextmanager
def atomic_output_dir(path):
    """Yield a temporary directory that becomes `path` on success and vanishes on failure.

    An existing directory at `path` (the output of an earlier run) is replaced whole only when the
    new one is complete, so a rerun never mixes old and new files. Replacing never deletes what
    no earlier run of the same kind wrote: a directory of other files, or an artifact of another
    kind, is refused. Temporary siblings that a killed earlier run of the same output left
    behind are removed first.
    """
    path = os.path.abspath(path)
    _check_writable_parent(path)
    _remove_leftovers(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"the output should be a directory, found {describe_path(path)}",
                        where=path, fix="remove it or choose another --output_dir")
    earlier = _earlier_output(path)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    os.makedirs(tmp)
    try:
        yield tmp
        if not os.path.exists(os.path.join(tmp, MANIFEST)):
            raise RuntimeError(f"stage finished without writing {MANIFEST} in {tmp}")
        _check_same_kind(path, earlier, tmp)
        _readable_as_umask_allows(tmp)
        if os.path.isdir(path):
            old = f"{path}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_same_kind(path, earlier, tmp):
    if earlier is None:
        return
    with open(os.path.join(tmp, MANIFEST), encoding="utf-8") as f:
        made = json.load(f).get("kind")
    if earlier.get("kind") != made:
        raise UserError(f"the output directory holds a {earlier.get('kind')!r} artifact, not a "
                        f"{made!r} like this run's, and replacing it would delete it", where=path,
                        fix="pass another output directory")


def _readable_as_umask_allows(directory):
    """Give every file the mode a plain `open(..., "w")` gives (0666 less the umask): some
    writers (safetensors) create theirs 0600, which other users of the artifact cannot read."""
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask
    for parent, _, names in os.walk(directory):
        for name in names:
            file = os.path.join(parent, name)
            if not os.path.islink(file) and os.stat(file).st_mode & 0o777 != mode:
                os.chmod(file, mode)


def write_manifest(directory, manifest):
    """Write `manifest.json` into `directory`; call it last, after every other file is in place."""
    write_json_atomic(os.path.join(directory, MANIFEST), manifest)


def read_manifest(directory, kind=None):
    """Read an artifact's manifest, refusing directories that are missing or incomplete."""
    if not os.path.isdir(directory):
        raise UserError("input directory does not exist", where=directory,
                        fix="check the path, or run the stage that produces it first")
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
        raise UserError(f"input directory has no {MANIFEST}, so it is incomplete or not an "
                        "edu-mlm artifact", where=directory,
                        fix="rerun the stage that produces it")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if kind is not None and manifest.get("kind") != kind:
        raise UserError(f"expected a {kind!r} artifact, found {manifest.get('kind')!r}",
                        where=directory, fix=f"pass the output directory of the {kind} stage")
    return manifest


def read_json_output(directory, name, what, step):
    """The JSON file `name` of a stage's output `directory` (its manifest read first); one line
    naming `what` (e.g. "the serving export") and the `step` to rerun when it cannot be read."""
    path = os.path.join(directory, name)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise UserError(f"{what}'s {name} cannot be read ({err})", where=directory,
                        fix=f"rerun the {step} step") from err


def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
