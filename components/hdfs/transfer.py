"""Move artifacts between HDFS and local (KFP) artifact directories.

export: a complete artifact directory (one with manifest.json) → an HDFS directory, atomically:
    the files go to a hidden sibling `.NAME.tmp-XXXXXXXX` (HDFS jobs skip names starting with a
    dot), their sizes are checked, then one RENAME puts the directory in place. An existing target
    is refused unless `overwrite`; then it is renamed aside, replaced and deleted, so readers see
    either the old or the new directory whole. A failed upload deletes its temporary directory.
import: an HDFS file or directory → a local artifact directory (also atomic, via
    `atomic_output_dir`):
    - kind "corpus": raw text (the users' `preTrain_summary_raw.txt`, or a directory of part
      files) is streamed line by line through the extract stage's cleaning; a directory that
      already is a corpus artifact (exported earlier) is copied as is and its shard checksums are
      verified;
    - kind "model": the directory is copied as is; without a manifest (a Google-released model
      put on HDFS by hand) one is written naming its kind (`bert_model` for bert_config.json +
      a checkpoint, `hf_model` for a transformers directory).
"""

import json
import logging
import os
import posixpath
import time
import uuid

from components.common.artifacts import (
    MANIFEST,
    atomic_output_dir,
    read_manifest,
    sha256_file,
    write_manifest,
)
from components.common.errors import UserError
from components.common.logs import progress
from components.extract.corpus import cleaning_options, write_corpus
from components.extract.sources import text_rows
from components.hdfs.client import hdfs_errors, make_client

log = logging.getLogger(__name__)
CHUNK = 1 << 20
# What to do about an existing target: the CLI's advice (the pipeline's task has no such flag).
REPLACE_FIX = "pass --overwrite True to replace it, or choose another path"


class _ProgressReader:
    """A file whose reads advance a progress bar; `len()` lets requests send Content-Length."""

    def __init__(self, path, bar):
        self.file = open(path, "rb")
        self.size = os.path.getsize(path)
        self.bar = bar

    def __len__(self):
        return self.size

    def read(self, size=-1):
        data = self.file.read(size)
        self.bar.update(len(data))
        return data

    def close(self):
        self.file.close()


def _check_hdfs_path(hdfs_path):
    if not hdfs_path.startswith("/"):
        raise UserError("the HDFS path must be absolute", where=f"--hdfs_path {hdfs_path}",
                        fix="write it from the root, e.g. /user/etl/models/edu-bert")
    return posixpath.normpath(hdfs_path)


def _local_files(directory):
    """Relative paths of all files under `directory`, manifest.json last."""
    files = []
    for parent, _, names in os.walk(directory):
        for name in names:
            files.append(os.path.relpath(os.path.join(parent, name), directory))
    files.sort(key=lambda rel: (rel == MANIFEST, rel))
    return files


def export_to_hdfs(args, replace_fix=REPLACE_FIX):
    """Upload the artifact directory `args.input_dir` to `args.hdfs_path` atomically
    (`HdfsExportArguments`); returns a summary. An existing target is refused, saying
    `replace_fix`, unless `args.overwrite`."""
    input_dir, overwrite = args.input_dir, args.overwrite
    manifest = read_manifest(input_dir)
    hdfs_path = _check_hdfs_path(args.hdfs_path)
    client = make_client(args.namenode_url, args.hdfs_user, args.hdfs_auth)
    parent, name = posixpath.split(hdfs_path)
    files = _local_files(input_dir)
    total = sum(os.path.getsize(os.path.join(input_dir, rel)) for rel in files)
    tmp = posixpath.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    with hdfs_errors("export to HDFS", hdfs_path):
        if client.status(hdfs_path, strict=False) and not overwrite:
            raise UserError("the HDFS target already exists", where=hdfs_path, fix=replace_fix)
        log.info("uploading %d files (%.1f MB) of a %s artifact to %s", len(files), total / 1e6,
                 manifest.get("kind"), tmp)
        client.makedirs(tmp)
        try:
            with progress(total=total, desc="export", unit="B") as bar:
                for rel in files:
                    reader = _ProgressReader(os.path.join(input_dir, rel), bar)
                    try:
                        client.write(posixpath.join(tmp, *rel.split(os.sep)), data=reader)
                    finally:
                        reader.close()
            _check_sizes(client, tmp, input_dir, files)
            _put_in_place(client, tmp, hdfs_path, overwrite, replace_fix)
        except BaseException:
            _remove_quietly(client, tmp)
            raise
    seconds = time.monotonic() - started
    log.info("exported %s to %s in %.1f s (%.0f MB/s)", input_dir, hdfs_path, seconds,
             total / 1e6 / max(seconds, 1e-9))
    return {"hdfs_path": hdfs_path, "kind": manifest.get("kind"), "files": len(files),
            "bytes": total, "seconds": round(seconds, 3)}


def _check_sizes(client, tmp, input_dir, files):
    remote = {posixpath.relpath(posixpath.join(root, name), tmp): status["length"]
              for (root, _), _, entries in client.walk(tmp, status=True)
              for name, status in entries}
    for rel in files:
        key = rel.replace(os.sep, "/")
        if remote.get(key) != os.path.getsize(os.path.join(input_dir, rel)):
            raise UserError(f"uploaded {key} has {remote.get(key)} bytes, expected "
                            f"{os.path.getsize(os.path.join(input_dir, rel))}", where=tmp,
                            fix="retry the export; check the datanodes' health")


def _put_in_place(client, tmp, hdfs_path, overwrite, replace_fix):
    """RENAME tmp → target; an existing target (overwrite) is renamed aside first, then deleted."""
    existing = client.status(hdfs_path, strict=False)
    if existing is None:
        client.rename(tmp, hdfs_path)
        return
    if not overwrite:
        raise UserError("the HDFS target appeared during the upload", where=hdfs_path,
                        fix=replace_fix)
    parent, name = posixpath.split(hdfs_path)
    old = posixpath.join(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
    client.rename(hdfs_path, old)
    client.rename(tmp, hdfs_path)
    client.delete(old, recursive=True)


def _remove_quietly(client, path):
    try:
        client.delete(path, recursive=True)
    except Exception:  # cleanup after a failure must not hide the failure itself
        log.warning("could not delete the temporary HDFS directory %s", path, exc_info=True)


def _remote_files(client, hdfs_path):
    """[(relative name, full path, length)] of the file or of every file under the directory,
    skipping names HDFS jobs treat as hidden (`_SUCCESS`, `.tmp`)."""
    status = client.status(hdfs_path)
    if status["type"] == "FILE":
        return [(posixpath.basename(hdfs_path), hdfs_path, status["length"])]
    files = []
    for (root, _), _, entries in client.walk(hdfs_path, status=True):
        for name, entry in entries:
            rel = posixpath.relpath(posixpath.join(root, name), hdfs_path)
            if not any(part.startswith(("_", ".")) for part in rel.split("/")):
                files.append((rel, posixpath.join(root, name), entry["length"]))
    return sorted(files)


def _download(client, files, directory, desc):
    with progress(total=sum(size for *_, size in files), desc=desc, unit="B") as bar:
        for rel, remote, size in files:
            local = os.path.join(directory, *rel.split("/"))
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with client.read(remote, chunk_size=CHUNK) as chunks, open(local, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    bar.update(len(chunk))
            if os.path.getsize(local) != size:
                raise UserError(f"downloaded {rel} has {os.path.getsize(local)} bytes, HDFS "
                                f"says {size}", where=remote, fix="retry the import")


def _model_kind(names):
    if "bert_config.json" in names and any(n.endswith(".ckpt.index") for n in names):
        return "bert_model"
    if "config.json" in names and any(n.endswith((".safetensors", ".bin")) for n in names):
        return "hf_model"
    return None


def import_from_hdfs(args):
    """Bring an HDFS file or directory in as a local artifact of `args.kind` ("corpus" or
    "model"; `HdfsImportArguments`).

    Raw text becomes a corpus through the extract stage's cleaning (the cleaning flags apply);
    artifacts and models are copied as they are. Returns the manifest.
    """
    output_dir, kind = args.output_dir, args.kind
    hdfs_path = _check_hdfs_path(args.hdfs_path)
    client = make_client(args.namenode_url, args.hdfs_user, args.hdfs_auth)
    source = {"type": "hdfs", "url": client.url, "path": hdfs_path}
    with hdfs_errors("import from HDFS", hdfs_path):
        files = _remote_files(client, hdfs_path)
        if not files:
            raise UserError("no files to import", where=hdfs_path,
                            fix="check the path; names starting with _ or . are skipped")
        names = {rel for rel, *_ in files}
        remote_manifest = None
        if MANIFEST in names:
            with client.read(posixpath.join(hdfs_path, MANIFEST)) as reader:
                remote_manifest = json.loads(reader.read().decode("utf-8"))
        if kind == "model":
            return _import_model(client, files, output_dir, source, remote_manifest)
        if remote_manifest is not None:
            if remote_manifest.get("kind") != "corpus":
                raise UserError(f"the HDFS directory is a {remote_manifest.get('kind')!r} "
                                "artifact, not a corpus", where=hdfs_path,
                                fix="pass --kind model, or the path of a corpus")
            return _import_corpus_artifact(client, files, output_dir, remote_manifest)
        source["files"] = [remote for _, remote, _ in files]
        log.info("streaming %d HDFS file(s) through the cleaning", len(files))
        rows = text_rows(source["files"], args.errors, open_file=lambda remote: client.read(remote))
        return write_corpus(output_dir, rows, source, cleaning_options(args),
                            rows_per_shard=args.rows_per_shard, num_shards=args.num_shards)


def _import_corpus_artifact(client, files, output_dir, manifest):
    with atomic_output_dir(output_dir) as tmp:
        _download(client, files, tmp, "import")
        for shard in manifest["shards"]:
            if sha256_file(os.path.join(tmp, shard["file"])) != shard["sha256"]:
                raise UserError(f"shard {shard['file']} does not match its sha256 in the "
                                "manifest", where=output_dir, fix="re-export the corpus")
    return manifest


def _import_model(client, files, output_dir, source, remote_manifest):
    if remote_manifest is not None and remote_manifest.get("kind") not in ("bert_model",
                                                                             "hf_model"):
        raise UserError(f"the HDFS directory is a {remote_manifest.get('kind')!r} artifact, not "
                        "a model", where=source["path"],
                        fix="pass --kind corpus, or the path of a model directory")
    kind = _model_kind({rel for rel, *_ in files})
    if remote_manifest is None and kind is None:
        raise UserError("the HDFS directory holds no model (no bert_config.json + *.ckpt.index, "
                        "no config.json + weights)", where=source["path"],
                        fix="point --hdfs_path at the model directory")
    with atomic_output_dir(output_dir) as tmp:
        _download(client, files, tmp, "import")
        if remote_manifest is not None:
            return remote_manifest
        manifest = {"kind": kind, "source": source, "files": [
            {"file": rel, "bytes": size, "sha256": sha256_file(os.path.join(tmp, rel))}
            for rel, _, size in files]}
        write_manifest(tmp, manifest)
    return manifest
