"""A WebHDFS protocol server over a local directory, for the HDFS tests.

This is a stand-in: no Hadoop can be installed on this machine, so the tests talk to this server
instead of a real namenode. It speaks the WebHDFS REST protocol the way a namenode and a datanode
do, so the real `hdfs` client library runs unchanged against it:
- two HTTP servers: the namenode answers metadata operations and, for CREATE and OPEN, a
  `307 Temporary Redirect` to the datanode's URL, where the bytes are written or read;
- GETFILESTATUS, LISTSTATUS (a file lists as itself), MKDIRS, RENAME (false when the source is
  missing, the destination's parent is missing or the destination is a file; into a directory
  when the destination is one), DELETE (false when missing; non-empty directories need
  recursive=true), CREATE (FileAlreadyExistsException unless overwrite=true), OPEN (offset,
  length);
- errors as the namenode sends them: JSON `{"RemoteException": {"exception", "javaClassName",
  "message"}}` with 404 for a missing path and 403 for permission denied or an existing target.
Permissions are reduced to what the tests need: `protect(path)` makes a directory owned by the
superuser `hdfs` with mode 755, so other users (the `user.name` parameter) cannot write under it.
`set_quota(path, bytes)` is a space quota: a datanode write that would pass it fails midway with
DSQuotaExceededException, as a full quota does on a real cluster.
"""

import json
import os
import posixpath
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

PREFIX = "/webhdfs/v1"
SUPERUSER = "hdfs"
JAVA_CLASSES = {
    "FileNotFoundException": "java.io.FileNotFoundException",
    "AccessControlException": "org.apache.hadoop.security.AccessControlException",
    "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
    "PathIsNotEmptyDirectoryException": "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
    "ParentNotDirectoryException": "org.apache.hadoop.fs.ParentNotDirectoryException",
    "IllegalArgumentException": "java.lang.IllegalArgumentException",
    "DSQuotaExceededException": "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException",
}


class RemoteError(Exception):
    def __init__(self, status, exception, message):
        super().__init__(message)
        self.status, self.exception, self.message = status, exception, message


class WebHdfsServer:
    """`start()` / `stop()`; `url` is the namenode's http://host:port; files live under `root`."""

    def __init__(self, root):
        self.root = root
        self.protected = set()
        self.quotas = {}
        self.lock = threading.Lock()
        self.requests = []  # (method, op, path) seen by the namenode, for tests that check calls
        self.namenode = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, datanode=False))
        self.datanode = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, datanode=True))
        self.url = f"http://127.0.0.1:{self.namenode.server_address[1]}"
        self.datanode_url = f"http://127.0.0.1:{self.datanode.server_address[1]}"

    def start(self):
        # A short poll: shutdown() waits up to one interval per server (0.5 s by default), in
        # the teardown of every test that starts one.
        for server in (self.namenode, self.datanode):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                             daemon=True).start()
        return self

    def stop(self):
        for server in (self.namenode, self.datanode):
            server.shutdown()
            server.server_close()

    def protect(self, hdfs_path):
        os.makedirs(self.local(hdfs_path), exist_ok=True)
        self.protected.add(posixpath.normpath(hdfs_path))

    def set_quota(self, hdfs_path, space_bytes):
        os.makedirs(self.local(hdfs_path), exist_ok=True)
        self.quotas[posixpath.normpath(hdfs_path)] = space_bytes

    def check_quota(self, hdfs_path, extra_bytes):
        for directory, quota in self.quotas.items():
            if hdfs_path.startswith(directory + "/"):
                used = sum(os.path.getsize(os.path.join(parent, name))
                           for parent, _, names in os.walk(self.local(directory))
                           for name in names if "._COPYING_" not in name)
                if used + extra_bytes > quota:
                    raise RemoteError(403, "DSQuotaExceededException",
                                      f"The DiskSpace quota of {directory} is exceeded: quota = "
                                      f"{quota} B but diskspace consumed = {used + extra_bytes} B")

    def local(self, hdfs_path):
        return os.path.join(self.root, posixpath.normpath(hdfs_path).lstrip("/"))

    # --- checks a namenode makes -------------------------------------------------------------

    def check_write(self, user, hdfs_path):
        """Writing at `hdfs_path` needs write access to its nearest existing ancestor."""
        path = posixpath.normpath(hdfs_path)
        while not os.path.exists(self.local(path)) and path != "/":
            path = posixpath.dirname(path)
        target = path if os.path.isdir(self.local(path)) else posixpath.dirname(path)
        guarded = any(target == p or target.startswith(p + "/") for p in self.protected)
        if guarded and user != SUPERUSER:
            raise RemoteError(403, "AccessControlException",
                              f"Permission denied: user={user}, access=WRITE, "
                              f"inode=\"{target}\":{SUPERUSER}:supergroup:drwxr-xr-x")

    def file_status(self, hdfs_path, suffix=""):
        local = self.local(hdfs_path)
        stat = os.stat(local)
        is_dir = os.path.isdir(local)
        return {
            "accessTime": int(stat.st_atime * 1000), "blockSize": 134217728,
            "childrenNum": len(os.listdir(local)) if is_dir else 0, "fileId": stat.st_ino,
            "group": "supergroup", "length": 0 if is_dir else stat.st_size,
            "modificationTime": int(stat.st_mtime * 1000),
            "owner": SUPERUSER if posixpath.normpath(hdfs_path) in self.protected else "edu",
            "pathSuffix": suffix, "permission": "755" if is_dir else "644",
            "replication": 0 if is_dir else 3, "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }

    def missing(self, hdfs_path):
        return RemoteError(404, "FileNotFoundException", f"File does not exist: {hdfs_path}")


def _handler(fs, datanode):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def parse(self):
            parts = urlsplit(self.path)
            if not parts.path.startswith(PREFIX):
                raise RemoteError(404, "IllegalArgumentException", f"not WebHDFS: {parts.path}")
            path = posixpath.normpath("/" + unquote(parts.path[len(PREFIX):]).lstrip("/"))
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            return path, params.get("op", "").upper(), params

        def handle_any(self, method):
            try:
                path, op, params = self.parse()
                if not datanode:
                    fs.requests.append((method, op, path))
                handler = getattr(self, f"{'dn' if datanode else 'nn'}_{method}_{op}", None)
                if handler is None:
                    raise RemoteError(400, "IllegalArgumentException",
                                      f"Invalid value for webhdfs parameter \"op\": {op}")
                handler(path, params, params.get("user.name", "dr.who"))
            except RemoteError as err:
                self.send_json(err.status, {"RemoteException": {
                    "exception": err.exception, "javaClassName": JAVA_CLASSES[err.exception],
                    "message": err.message}})

        def do_GET(self):
            self.handle_any("GET")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_DELETE(self):
            self.handle_any("DELETE")

        def send_json(self, status, obj):
            self.drain_body()
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def redirect(self, path):
            self.drain_body()
            self.send_response(307)
            self.send_header("Location", f"{fs.datanode_url}{PREFIX}{quote(path)}?"
                                         f"{urlsplit(self.path).query}&namenoderpcaddress=nn:8020")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def body_chunks(self):
            """The request body, by Content-Length or chunked transfer encoding."""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return
                    yield self.rfile.read(size)
                    self.rfile.readline()
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

        def drain_body(self):
            if not getattr(self, "drained", False):
                self.drained = True
                for _ in self.body_chunks():
                    pass

        # --- namenode ---------------------------------------------------------------------

        def nn_GET_GETFILESTATUS(self, path, params, user):
            if not os.path.exists(fs.local(path)):
                raise fs.missing(path)
            self.send_json(200, {"FileStatus": fs.file_status(path)})

        def nn_GET_LISTSTATUS(self, path, params, user):
            local = fs.local(path)
            if not os.path.exists(local):
                raise fs.missing(path)
            if os.path.isdir(local):
                statuses = [fs.file_status(posixpath.join(path, name), name)
                            for name in sorted(os.listdir(local))]
            else:
                statuses = [fs.file_status(path)]
            self.send_json(200, {"FileStatuses": {"FileStatus": statuses}})

        def nn_GET_OPEN(self, path, params, user):
            local = fs.local(path)
            if not os.path.exists(local):
                raise fs.missing(path)
            if os.path.isdir(local):
                raise RemoteError(404, "FileNotFoundException", f"Path is not a file: {path}")
            self.redirect(path)

        def nn_PUT_CREATE(self, path, params, user):
            local = fs.local(path)
            fs.check_write(user, path)
            if os.path.isdir(local):
                raise RemoteError(403, "FileAlreadyExistsException",
                                  f"{path} already exists as a directory")
            if os.path.exists(local) and params.get("overwrite", "false").lower() != "true":
                raise RemoteError(403, "FileAlreadyExistsException",
                                  f"{path} for client 127.0.0.1 already exists")
            self.redirect(path)

        def nn_PUT_MKDIRS(self, path, params, user):
            fs.check_write(user, path)
            probe = path
            while probe != "/":
                if os.path.isfile(fs.local(probe)):
                    raise RemoteError(403, "ParentNotDirectoryException",
                                      f"Parent path is not a directory: {probe}")
                probe = posixpath.dirname(probe)
            os.makedirs(fs.local(path), exist_ok=True)
            self.send_json(200, {"boolean": True})

        def nn_PUT_RENAME(self, path, params, user):
            destination = posixpath.normpath(params.get("destination", ""))
            with fs.lock:
                fs.check_write(user, path)
                fs.check_write(user, destination)
                src, dst = fs.local(path), fs.local(destination)
                if os.path.isdir(dst):
                    dst = os.path.join(dst, posixpath.basename(path))
                ok = (os.path.exists(src) and os.path.isdir(os.path.dirname(dst))
                      and not os.path.exists(dst) and path != "/")
                if ok:
                    os.rename(src, dst)
            self.send_json(200, {"boolean": ok})

        def nn_DELETE_DELETE(self, path, params, user):
            local = fs.local(path)
            with fs.lock:
                if not os.path.exists(local):
                    self.send_json(200, {"boolean": False})
                    return
                fs.check_write(user, posixpath.dirname(path))
                if os.path.isdir(local):
                    if os.listdir(local) and params.get("recursive", "false").lower() != "true":
                        raise RemoteError(403, "PathIsNotEmptyDirectoryException",
                                          f"`{path} is non empty': Directory is not empty")
                    shutil.rmtree(local)
                else:
                    os.remove(local)
            self.send_json(200, {"boolean": True})

        # --- datanode ---------------------------------------------------------------------

        def dn_PUT_CREATE(self, path, params, user):
            local = fs.local(path)
            os.makedirs(os.path.dirname(local), exist_ok=True)
            partial = f"{local}._COPYING_{threading.get_ident()}"
            written = 0
            try:
                with open(partial, "wb") as f:
                    for chunk in self.body_chunks():
                        written += len(chunk)
                        fs.check_quota(path, written)
                        f.write(chunk)
            except RemoteError:
                os.remove(partial)
                raise
            self.drained = True
            os.replace(partial, local)
            self.send_response(201)
            self.send_header("Location", f"hdfs://nn:8020{path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def dn_GET_OPEN(self, path, params, user):
            local = fs.local(path)
            size = os.path.getsize(local)
            offset = int(params.get("offset", 0))
            length = min(int(params.get("length", size)), max(size - offset, 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            with open(local, "rb") as f:
                f.seek(offset)
                while length:
                    chunk = f.read(min(length, 1 << 20))
                    self.wfile.write(chunk)
                    length -= len(chunk)

    return Handler



if __name__ == "__main__":
    # A stand-alone server for benchmarks (its own process, so it does not share the client's
    # GIL): prints the namenode URL, serves until killed.
    import sys

    server = WebHdfsServer(sys.argv[1]).start()
    print(server.url, flush=True)
    threading.Event().wait()
