"""A loopback Hugging Face Hub for tests: the real `huggingface_hub` client pushes to it and pulls from it.

`LoopbackHub` serves, on 127.0.0.1 and a random port, the part of the Hub API that `push_to_hub`,
`upload_folder`, `from_pretrained`, `snapshot_download` and `load_dataset` (streaming too) use. Repositories
live in memory as a file table per commit; file contents live in a folder, addressed by their sha256. Only
the `main` branch exists; any commit sha is a valid revision. `{type}s` below is `models` or `datasets`;
outside `/api`, dataset URLs start with `/datasets/`.

Endpoints:
    POST /api/repos/create                                  create a repository (409 with its url if it exists)
    POST /api/validate-yaml                                 accept any README metadata
    GET  /api/{type}s/{repo_id}[/revision/{rev}]            repository info: `sha`, `siblings`
    GET  /api/{type}s/{repo_id}/tree/{rev}[/{path}]         files and folders under a path (`recursive`)
    POST /api/{type}s/{repo_id}/preupload/{rev}             upload mode per file: "lfs" for binaries, else "regular"
    POST /api/{type}s/{repo_id}/commit/{rev}                NDJSON commit: header, file (base64), lfsFile, deleted*
    POST /[datasets/]{repo_id}.git/info/lfs/objects/batch   LFS batch API: where to PUT each missing object
    PUT  /lfs-objects/{sha256}                              receive an LFS object (checked against its sha256)
    HEAD, GET /[datasets/]{repo_id}/resolve/{rev}/{path}    a file, with X-Repo-Commit, ETag, X-Linked-Etag/-Size

Writes need an `Authorization: Bearer <token>` header (the hub's token if it was given one). A request no route
answers is printed (method and path, never headers) and gets a 404, so a client feature the server lacks shows
up in the failing test's output.
"""

import base64
import hashlib
import json
import re
import tempfile
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

USER = "test-user"  # the namespace of repositories created without one
INITIAL_COMMIT = "0" * 40  # a new repository's only commit, with no files
# Stored through LFS like the Hub's default .gitattributes does, as is any file with a NUL byte or of 10 MB or more.
LFS_SUFFIXES = (".safetensors", ".parquet", ".arrow", ".bin", ".pt", ".pth", ".gguf", ".model", ".npy", ".zip")
LARGEST_REGULAR_FILE = 10 * 1024 * 1024
REPO = r"(?P<repo_id>[\w.-]+/[\w.-]+)"
API_REPO = r"/api/(?P<repo_type>model|dataset)s/" + REPO
URL_REPO = r"/(?:(?P<repo_type>dataset)s/)?" + REPO  # model repositories have no prefix
WRITE_HANDLERS = {"create_repo", "preupload", "commit", "lfs_batch"}


@dataclass(frozen=True)
class StoredFile:
    """A file of a commit: size, sha256 (the content's address), git blob id, and whether it went through LFS."""

    size: int
    sha256: str
    git_oid: str
    is_lfs: bool

    @classmethod
    def of(cls, content: bytes, is_lfs: bool) -> "StoredFile":
        git_oid = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        return cls(len(content), hashlib.sha256(content).hexdigest(), git_oid, is_lfs)

    @property
    def etag(self) -> str:
        """What the Hub's ETag is: the sha256 for LFS files, the git blob id for the others."""
        return self.sha256 if self.is_lfs else self.git_oid


@dataclass
class Repository:
    commits: dict[str, dict[str, StoredFile]] = field(default_factory=lambda: {INITIAL_COMMIT: {}})
    main: str = INITIAL_COMMIT

    def commit_sha(self, revision: str) -> str:
        return self.main if revision == "main" else revision


def _tree_entry(path: str, stored: StoredFile | None) -> dict:
    """An entry of a tree listing as the Hub writes it (`stored` None: a folder)."""
    if stored is None:
        return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}
    entry = {"type": "file", "oid": stored.git_oid, "size": stored.size, "path": path}
    if stored.is_lfs:
        entry["lfs"] = {"oid": stored.sha256, "size": stored.size, "pointerSize": 134}
    return entry


class HubRequestHandler(BaseHTTPRequestHandler):
    hub: "LoopbackHub"  # set on the subclass each LoopbackHub makes

    ROUTES = (
        ("POST", r"/api/repos/create", "create_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("GET", API_REPO + r"(?:/revision/(?P<revision>[^/]+))?", "repo_info"),
        ("GET", API_REPO + r"/tree/(?P<revision>[^/]+)(?:/(?P<path>.+))?", "tree"),
        ("POST", API_REPO + r"/preupload/(?P<revision>[^/]+)", "preupload"),
        ("POST", API_REPO + r"/commit/(?P<revision>[^/]+)", "commit"),
        ("POST", URL_REPO + r"\.git/info/lfs/objects/batch", "lfs_batch"),
        ("PUT", r"/lfs-objects/(?P<sha256>[0-9a-f]{64})", "lfs_put"),
        ("GET HEAD", URL_REPO + r"/resolve/(?P<revision>[^/]+)/(?P<path>.+)", "resolve"),
    )

    def log_message(self, format, *args):  # the default prints every request to stderr
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        self.query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        for methods, pattern, handler in self.ROUTES:
            match = re.fullmatch(pattern, url.path)
            if match and self.command in methods.split():
                if handler in WRITE_HANDLERS and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
                    error = {"error": "Invalid credentials in Authorization header"}
                    return self._send_json(error, HTTPStatus.UNAUTHORIZED)
                arguments = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                if "repo_id" in arguments:
                    arguments.setdefault("repo_type", "model")
                return getattr(self, handler)(**arguments)
        print(f"loopback hub: no route for {self.command} {url.path}")
        self._send_json({"error": f"no route for {self.command} {url.path}"}, HTTPStatus.NOT_FOUND)

    do_HEAD = do_POST = do_PUT = do_GET

    def _send(self, content: bytes, headers: dict, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(content))}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _send_json(self, payload, status: HTTPStatus = HTTPStatus.OK, headers: dict | None = None) -> None:
        self._send(json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}, status)

    def _files(self, repo_type: str, repo_id: str, revision: str) -> tuple[Repository, dict] | None:
        """The repository and its files at `revision`; None after answering with the Hub's not-found error."""
        repository = self.hub.repositories.get((repo_type, repo_id))
        if repository is None:
            self._send_json({"error": "Repository not found"}, HTTPStatus.NOT_FOUND, {"X-Error-Code": "RepoNotFound"})
            return None
        files = repository.commits.get(repository.commit_sha(revision))
        if files is None:
            self._send_json({"error": "Invalid rev id"}, HTTPStatus.NOT_FOUND, {"X-Error-Code": "RevisionNotFound"})
            return None
        return repository, files

    def create_repo(self) -> None:
        request = json.loads(self.body)
        repo_type = request.get("type") or "model"
        repo_id = f"{request.get('organization') or USER}/{request['name']}"
        url = f"{self.hub.url}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
        with self.hub.lock:
            if (repo_type, repo_id) in self.hub.repositories:
                return self._send_json({"error": "You already created this repo", "url": url}, HTTPStatus.CONFLICT)
            self.hub.repositories[(repo_type, repo_id)] = Repository()
        self._send_json({"url": url, "name": repo_id})

    def validate_yaml(self) -> None:
        self._send_json({"errors": [], "warnings": []})

    def repo_info(self, repo_type: str, repo_id: str, revision: str = "main") -> None:
        if found := self._files(repo_type, repo_id, revision):
            repository, files = found
            self._send_json({
                "id": repo_id, "author": repo_id.split("/")[0], "private": False, "disabled": False, "gated": False,
                "sha": repository.commit_sha(revision), "tags": [],
                "siblings": [{"rfilename": path} for path in sorted(files)],
            })

    def tree(self, repo_type: str, repo_id: str, revision: str, path: str = "") -> None:
        if not (found := self._files(repo_type, repo_id, revision)):
            return
        _, files = found
        root = PurePosixPath(path.strip("/"))
        below = sorted(name for name in files if root in PurePosixPath(name).parents)
        if path.strip("/") and not below:
            error_code = {"X-Error-Code": "EntryNotFound"}
            return self._send_json({"error": "Entry not found"}, HTTPStatus.NOT_FOUND, error_code)
        folders = {str(folder) for name in below for folder in PurePosixPath(name).parents if root in folder.parents}
        entries = [_tree_entry(folder, None) for folder in sorted(folders)]
        entries += [_tree_entry(name, files[name]) for name in below]
        if self.query.get("recursive", "").lower() not in ("1", "true"):
            entries = [entry for entry in entries if PurePosixPath(entry["path"]).parent == root]
        self._send_json(entries)

    def preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        if not (found := self._files(repo_type, repo_id, revision)):
            return
        _, files = found
        answers = []
        for file in json.loads(self.body)["files"]:
            is_binary = b"\0" in base64.b64decode(file["sample"]) or file["path"].endswith(LFS_SUFFIXES)
            remote = files.get(file["path"])
            answers.append({
                "path": file["path"],
                "uploadMode": "lfs" if is_binary or file["size"] >= LARGEST_REGULAR_FILE else "regular",
                "shouldIgnore": False,
                "oid": remote.etag if remote else None,  # lets the client skip unchanged files
            })
        self._send_json({"files": answers})

    def lfs_batch(self, repo_type: str, repo_id: str) -> None:
        objects = []
        for requested in json.loads(self.body)["objects"]:
            answer = {"oid": requested["oid"], "size": requested["size"]}
            if not self.hub.blob_path(requested["oid"]).exists():  # no "actions": the Hub already has it
                answer["actions"] = {"upload": {"href": f"{self.hub.url}/lfs-objects/{requested['oid']}"}}
            objects.append(answer)
        self._send_json({"transfer": "basic", "objects": objects})

    def lfs_put(self, sha256: str) -> None:
        if hashlib.sha256(self.body).hexdigest() != sha256:
            return self._send_json({"error": "content does not match its sha256"}, HTTPStatus.BAD_REQUEST)
        self.hub.store(self.body)
        self._send_json({})

    def commit(self, repo_type: str, repo_id: str, revision: str) -> None:
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        with self.hub.lock:
            if not (found := self._files(repo_type, repo_id, revision)):
                return
            repository, files = found
            files = dict(files)
            for line in lines[1:]:  # lines[0] is the header: summary and description
                path = line["value"]["path"]
                if line["key"] == "file":
                    content = base64.b64decode(line["value"]["content"])
                    self.hub.store(content)
                    files[path] = StoredFile.of(content, is_lfs=False)
                elif line["key"] == "lfsFile":
                    blob = self.hub.blob_path(line["value"]["oid"])
                    if not blob.exists():
                        return self._send_json({"error": f"{path}: LFS object never uploaded"}, HTTPStatus.BAD_REQUEST)
                    files[path] = StoredFile.of(blob.read_bytes(), is_lfs=True)
                elif line["key"] == "deletedFile":
                    files.pop(path, None)
                elif line["key"] == "deletedFolder":
                    folder = PurePosixPath(path)
                    files = {name: file for name, file in files.items() if folder not in PurePosixPath(name).parents}
            commit_content = f"{repository.main}\n{len(repository.commits)}\n".encode() + self.body
            sha = hashlib.sha1(commit_content).hexdigest()
            repository.commits[sha] = files
            repository.main = sha
        prefix = "datasets/" if repo_type == "dataset" else ""
        self._send_json({"commitUrl": f"{self.hub.url}/{prefix}{repo_id}/commit/{sha}", "commitOid": sha})

    def resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        if not (found := self._files(repo_type, repo_id, revision)):
            return
        repository, files = found
        headers = {"X-Repo-Commit": repository.commit_sha(revision)}
        stored = files.get(path)
        if stored is None:  # the commit header lets the client cache that the file does not exist
            headers["X-Error-Code"] = "EntryNotFound"
            return self._send_json({"error": "Entry not found"}, HTTPStatus.NOT_FOUND, headers)
        headers.update({"ETag": f'"{stored.etag}"', "Content-Type": "application/octet-stream"})
        if stored.is_lfs:
            headers.update({"X-Linked-Etag": f'"{stored.etag}"', "X-Linked-Size": str(stored.size)})
        self._send(self.hub.blob_path(stored.sha256).read_bytes(), headers)


class LoopbackHub:
    """The server: `start()` serves from a background thread, `url` is the endpoint, `stop()` ends it.

    Args:
        storage: folder for file contents (a new temporary folder by default).
        token: the token writes must carry.
    """

    def __init__(self, storage: Path | None = None, token: str = "hf_loopback"):
        self.storage = Path(storage or tempfile.mkdtemp(prefix="loopback-hub-"))
        self.storage.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.repositories: dict[tuple[str, str], Repository] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (HubRequestHandler,), {"hub": self}))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "LoopbackHub":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def blob_path(self, sha256: str) -> Path:
        return self.storage / sha256

    def store(self, content: bytes) -> None:
        self.blob_path(hashlib.sha256(content).hexdigest()).write_bytes(content)

    def stored_files(self, repo_id: str, repo_type: str = "model") -> dict[str, StoredFile]:
        """The files on `main` of a repository: path -> size, hashes and whether it went through LFS."""
        repository = self.repositories[(repo_type, repo_id)]
        return repository.commits[repository.main]

    def files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        """The files on `main` of a repository: path -> content."""
        stored_files = self.stored_files(repo_id, repo_type)
        return {path: self.blob_path(file.sha256).read_bytes() for path, file in stored_files.items()}
