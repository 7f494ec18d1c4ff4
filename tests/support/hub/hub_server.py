#!/usr/bin/python3
"""A Hugging Face-style hub on 127.0.0.1 for the remote tests and benchmark (a real HTTP/1.1 server).

Serves ROOT/ORG/NAME/<files> as repositories, the way huggingface.co answers huggingface_hub:
  GET  /api/models/ORG/NAME/revision/REV[?blobs=true]  {"id", "sha", "siblings": [{"rfilename", "size",
                                                       "blobId", "lfs": {"sha256", "size", "pointerSize"}}]}
  HEAD|GET /ORG/NAME/resolve/REV/FILE                  small files: 200 + X-Repo-Commit, ETag (git blob id);
                                                       *.safetensors (LFS): 302 to the storage URL, with
                                                       X-Repo-Commit, X-Linked-Etag (sha256), X-Linked-Size
  HEAD|GET /lfs/SHA256                                 the storage host: Range -> 206 + Content-Range
REV is "main" or the commit sha (sha1 over the files' digests, so it changes when content changes).

--fault MODE makes it misbehave, deterministically (counters, no randomness):
  drop          every 3rd storage GET: connection closed without an answer
  429 / 503     every 2nd request (any path) answers that status (Retry-After: 0 on 429)
  truncate      every 2nd storage GET: full Content-Length, half the body, then close
  ignore-range  storage answers 200 with the whole file to every Range request
  other-host    LFS redirects go to a second server on another port (--storage-port-file)
  redirect-loop resolve/ of LFS files redirects to itself
  slow          storage GET sends its headers, then one byte per second
  big-headers   every answer carries 200 extra headers of 1 KiB
  content-range storage answers 206 with a Content-Range one byte off
  size-mismatch X-Linked-Size one larger than the file
  escape        the file list names ../../escape.safetensors
  expire        the first signed storage URL answers 403 (expired) after 3 GETs
  renamed       test/renamed answers with relative redirects to test/base (API and resolve/)
  corrupt       storage flips the file's last byte (tensor data) whenever a body holds it
--log FILE appends one JSON line per request: method, path, range, authorization present (never its value).
"""
import argparse
import hashlib
import json
import os
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".h5", ".gguf")


class Repo:
    def __init__(self, root, repo_id):
        self.id = repo_id
        self.dir = os.path.join(root, repo_id)
        self.files = {}
        for dp, _, fns in os.walk(self.dir):
            for fn in sorted(fns):
                full = os.path.join(dp, fn)
                rel = os.path.relpath(full, self.dir)
                self.files[rel] = self.describe(full, rel)
        h = hashlib.sha1()
        for rel in sorted(self.files):
            h.update(rel.encode() + b"\0" + self.files[rel]["digest"].encode() + b"\n")
        self.sha = h.hexdigest()

    @staticmethod
    def describe(full, rel):
        size = os.path.getsize(full)
        if rel.endswith(LFS_SUFFIXES):
            h = hashlib.sha256()
            with open(full, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            return {"path": full, "size": size, "lfs": True, "digest": h.hexdigest()}
        with open(full, "rb") as f:
            data = f.read()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        return {"path": full, "size": size, "lfs": False, "digest": blob}


class State:
    def __init__(self, args):
        self.args = args
        self.fault = args.fault
        self.repos = {}
        for org in sorted(os.listdir(args.root)):
            od = os.path.join(args.root, org)
            if not os.path.isdir(od):
                continue
            for name in sorted(os.listdir(od)):
                if os.path.isdir(os.path.join(od, name)):
                    r = Repo(args.root, f"{org}/{name}")
                    self.repos[r.id] = r
        self.by_sha256 = {}
        for r in self.repos.values():
            for f in r.files.values():
                if f["lfs"]:
                    self.by_sha256[f["digest"]] = f
        self.lock = threading.Lock()
        self.counters = {}
        self.storage_origin = None  # set after the servers bind
        self.log = open(args.log, "a") if args.log else None

    def count(self, key):
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            return self.counters[key]

    def record(self, handler, storage):
        if not self.log:
            return
        line = json.dumps({"method": handler.command, "path": handler.path, "range": handler.headers.get("Range"),
                           "authorization": handler.headers.get("Authorization") is not None, "storage": storage})
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()


def make_handler(state, storage_only):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "hub-test"

        def log_message(self, fmt, *a):
            pass

        def extra_headers(self):
            if state.fault == "big-headers":
                for i in range(200):
                    self.send_header(f"X-Padding-{i}", "x" * 1024)

        def reply(self, status, body=b"", headers=None, head=False):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.extra_headers()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head and body:
                self.wfile.write(body)

        def do_HEAD(self):
            self.route(head=True)

        def do_GET(self):
            self.route(head=False)

        def route(self, head):
            path = urllib.parse.urlparse(self.path).path
            storage = path.startswith("/lfs/")
            state.record(self, storage)
            n = state.count("all")
            if state.fault in ("429", "503") and n % 2 == 0:
                hdr = {"Retry-After": "0"} if state.fault == "429" else {}
                return self.reply(int(state.fault), b"try again", hdr, head)
            if storage and state.fault == "expire" and not head:
                # signature 1 expires after the 3rd storage GET: the client must resolve again
                sig = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("sig", [""])[0]
                if sig == "1" and state.count("expire-gets") > 3:
                    return self.reply(403, b"Request has expired", head=head)
            if storage:
                return self.storage(path[5:], head)
            if state.fault == "renamed" and "/test/renamed" in path:  # a renamed repository: relative redirect
                return self.reply(307, b"", {"Location": self.path.replace("/test/renamed", "/test/base")}, head)
            if storage_only:
                return self.reply(404, b"storage host", head=head)
            if path.startswith("/api/models/"):
                return self.api(path[len("/api/models/"):], head)
            parts = path.lstrip("/").split("/", 4)
            if len(parts) == 5 and parts[2] == "resolve":
                return self.resolve(f"{parts[0]}/{parts[1]}", urllib.parse.unquote(parts[3]),
                                    urllib.parse.unquote(parts[4]), head)
            return self.reply(404, b"not found", head=head)

        def find_repo(self, repo_id, rev):
            r = state.repos.get(repo_id)
            if r is None or rev not in ("main", r.sha):
                return None
            return r

        def api(self, rest, head):
            if "/revision/" not in rest:
                return self.reply(404, b"not found", head=head)
            repo_id, rev = rest.split("/revision/", 1)
            r = self.find_repo(repo_id, urllib.parse.unquote(rev))
            if r is None:
                return self.reply(404, b'{"error":"Repository not found"}', head=head)
            siblings = []
            for rel, f in sorted(r.files.items()):
                s = {"rfilename": rel, "size": f["size"]}
                if f["lfs"]:
                    s["blobId"] = hashlib.sha1(f["digest"].encode()).hexdigest()
                    s["lfs"] = {"sha256": f["digest"], "size": f["size"], "pointerSize": 134}
                else:
                    s["blobId"] = f["digest"]
                siblings.append(s)
            if state.fault == "escape":
                siblings.append({"rfilename": "../../escape.safetensors", "size": 8})
            body = json.dumps({"_id": "x", "id": r.id, "modelId": r.id, "sha": r.sha, "private": False,
                               "siblings": siblings}).encode()
            return self.reply(200, body, {"Content-Type": "application/json"}, head)

        def resolve(self, repo_id, rev, rel, head):
            r = self.find_repo(repo_id, rev)
            if r is None or rel not in r.files:
                return self.reply(404, b"Entry not found", {"X-Error-Code": "EntryNotFound"}, head)
            f = r.files[rel]
            common = {"X-Repo-Commit": r.sha}
            if not f["lfs"]:
                with open(f["path"], "rb") as fh:
                    data = fh.read()
                common["ETag"] = f'"{f["digest"]}"'
                return self.reply(200, data, common, head)
            if state.fault == "redirect-loop":
                return self.reply(302, b"", {"Location": self.path}, head)
            size = f["size"] + (1 if state.fault == "size-mismatch" else 0)
            sig = state.count("signatures") if state.fault == "expire" else "secret"
            common.update({"X-Linked-Etag": f'"{f["digest"]}"', "X-Linked-Size": str(size),
                           "ETag": f'"{f["digest"]}"', "Location": f"{state.storage_origin}/lfs/{f['digest']}?sig={sig}"})
            return self.reply(302, b"", common, head)

        def storage(self, digest, head):
            f = state.by_sha256.get(digest)
            if f is None:
                return self.reply(404, b"no such object", head=head)
            size = f["size"]
            rng = self.headers.get("Range")
            start, end = 0, size - 1
            status = 200
            if rng and rng.startswith("bytes=") and state.fault != "ignore-range":
                a, _, b = rng[6:].partition("-")
                try:
                    start, end = int(a), (int(b) if b else size - 1)
                except ValueError:
                    return self.reply(400, b"bad range", head=head)
                if start > end or end >= size:
                    return self.reply(416, b"", {"Content-Range": f"bytes */{size}"}, head)
                status = 206
            with open(f["path"], "rb") as fh:
                fh.seek(start)
                data = fh.read(end - start + 1)
            if state.fault == "corrupt" and data and end == size - 1:  # the file's last byte (tensor data)
                data = data[:-1] + bytes([data[-1] ^ 1])
            if head:
                return self.reply(200, b"", {"Content-Length-Hint": str(size)}, True)
            n = state.count("storage-get")
            if state.fault == "drop" and n % 3 == 0:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(status)
            if status == 206:
                off = 1 if state.fault == "content-range" else 0
                self.send_header("Content-Range", f"bytes {start + off}-{end + off}/{size}")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{digest}"')
            self.extra_headers()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if state.fault == "truncate" and n % 2 == 0:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if state.fault == "slow":
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(1.0)
                return
            self.wfile.write(data)

    return Handler


def serve(state, storage_only, port_file):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state, storage_only))
    srv.daemon_threads = True
    port = srv.server_address[1]
    return srv, port


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True, help="written with the port once listening")
    ap.add_argument("--storage-port-file", help="other-host: written with the storage server's port")
    ap.add_argument("--fault", default="none")
    ap.add_argument("--log")
    ap.add_argument("--storage-origin", help="LFS redirects go to this origin (e.g. an nginx serving --lfs-dir)")
    ap.add_argument("--lfs-dir", help="write DIR/lfs/SHA256 links to every LFS file (for --storage-origin)")
    args = ap.parse_args()
    state = State(args)
    hub, hub_port = serve(state, False, args.port_file)
    state.storage_origin = f"http://127.0.0.1:{hub_port}"
    servers = [hub]
    if state.fault == "other-host":
        st, st_port = serve(state, True, args.storage_port_file)
        state.storage_origin = f"http://127.0.0.1:{st_port}"
        servers.append(st)
        if args.storage_port_file:
            with open(args.storage_port_file + ".tmp", "w") as f:
                f.write(str(st_port))
            os.rename(args.storage_port_file + ".tmp", args.storage_port_file)
    if args.storage_origin:
        state.storage_origin = args.storage_origin.rstrip("/")
    if args.lfs_dir:
        os.makedirs(os.path.join(args.lfs_dir, "lfs"), exist_ok=True)
        for digest, f in state.by_sha256.items():
            link = os.path.join(args.lfs_dir, "lfs", digest)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(f["path"]), link)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(hub_port))
    os.rename(args.port_file + ".tmp", args.port_file)
    hub.serve_forever()


if __name__ == "__main__":
    main()
