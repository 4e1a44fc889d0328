"""A stateful fake of the GitHub REST API on 127.0.0.1, for tests that drive real PyGithub.

It keeps a small git object store (blobs, flat trees, commits, hashed with SHA-1 of their content
like git does) and branch refs, plus pull requests, labels and issue comments, and answers in the
JSON shapes GitHub uses (only the fields PyGithub reads). Stdlib only.

    with FakeGitHub(files={"policy/strategy_kill_list.yaml": "macro:\\n  status: ENABLED\\n"}) as gh:
        Github(base_url=gh.url, auth=Auth.Token(gh.token)).get_repo("acme/trading")
        gh.inject("POST", r"/pulls$", 502, apply=True)    # the PR is created, the client sees a 502
        gh.ref_writes                                     # [(ref, old_sha, new_sha)] written through the API

Served: repo; git/ref(s) GET/POST/PATCH/DELETE; contents GET/PUT; commits list and one commit;
compare `base...head`; pulls list (state, head=owner:branch, base)/get/create/PATCH; issues get;
issue labels POST; labels GET/POST; issue comments list/create and PATCH /issues/comments/{id}.
Lists paginate with `per_page`/`page` and a Link header. Every request needs
`Authorization: token <token>` or `Bearer <token>` (else 401 "Bad credentials").
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, str]
    body: object  # parsed JSON or None
    status: int = 0


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern
    status: int
    body: object
    headers: dict[str, str]
    times: int
    apply: bool


@dataclass
class _Commit:
    sha: str
    tree: dict[str, str]  # path -> blob sha (a flat tree is enough for a fake)
    tree_sha: str
    parents: list[str]
    message: str
    author: dict[str, str]
    seq: int
    files: dict[str, str] = field(default_factory=dict)


def _git_sha(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


def _b64_lines(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


class _HTTPError(Exception):
    def __init__(self, status: int, body: object, headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def _not_found() -> _HTTPError:
    return _HTTPError(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})


def _validation(resource: str, code: str, message: str | None = None, fld: str | None = None) -> _HTTPError:
    error = {"resource": resource, "code": code}
    if message:
        error["message"] = message
    if fld:
        error["field"] = fld
    return _HTTPError(422, {"message": "Validation Failed", "errors": [error]})


class FakeGitHub:
    def __init__(
        self,
        owner: str = "acme",
        repo: str = "trading",
        default_branch: str = "main",
        files: dict[str, str] | None = None,
        token: str = "fake-token",
    ):
        self.owner, self.repo, self.default_branch, self.token = owner, repo, default_branch, token
        self.requests: list[Request] = []
        self.ref_writes: list[tuple[str, str | None, str | None]] = []
        self._lock = threading.RLock()
        self._blobs: dict[str, bytes] = {}
        self._commits: dict[str, _Commit] = {}
        self._refs: dict[str, str] = {}  # branch name -> commit sha
        self._pulls: list[dict] = []
        self._labels: dict[str, dict] = {}
        self._comments: list[dict] = []
        self._injections: list[_Injection] = []
        self._seq = 0
        self._server: ThreadingHTTPServer | None = None
        self.url = ""
        root = self._make_commit(
            {},
            [],
            "Initial commit",
            {"name": "Owner", "email": "owner@example.com"},
            {path: text for path, text in (files or {}).items()},
        )
        self._refs[default_branch] = root

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self):
                fake._handle(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- test helpers ------------------------------------------------------------------------
    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: object = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        apply: bool = False,
    ) -> None:
        """Answer the next `times` requests matching (method, re.search on the path) with `status`.
        With `apply=True` the request is carried out first (a gateway error after the write)."""
        if body is None:
            body = {"message": "Server Error" if status >= 500 else "Injected"}
        with self._lock:
            self._injections.append(
                _Injection(method.upper(), re.compile(path_regex), status, body, dict(headers or {}), times, apply)
            )

    def branch_head(self, name: str) -> str | None:
        with self._lock:
            return self._refs.get(name)

    def file_at(self, ref: str, path: str) -> str | None:
        with self._lock:
            commit = self._commits[self._resolve(ref)]
            sha = commit.tree.get(path)
            return None if sha is None else self._blobs[sha].decode("utf-8")

    def commits_on(self, branch: str) -> list[str]:
        """Commit messages reachable from `branch`, newest first."""
        with self._lock:
            shas = self._ancestors(self._refs[branch])
            return [self._commits[s].message for s in sorted(shas, key=lambda s: -self._commits[s].seq)]

    @property
    def pulls(self) -> list[dict]:
        with self._lock:
            return [dict(p) for p in self._pulls]

    @property
    def labels(self) -> dict[str, dict]:
        with self._lock:
            return {k: dict(v) for k, v in self._labels.items()}

    def comments(self, number: int) -> list[dict]:
        with self._lock:
            return [dict(c) for c in self._comments if c["issue"] == number]

    def add_commit(
        self, branch: str, path: str, text: str, author_name: str = "A Human", message: str = "Edit by hand"
    ) -> str:
        """Simulate a push by a person (not recorded in `ref_writes`, which logs API writes)."""
        with self._lock:
            parent = self._refs[branch]
            sha = self._make_commit(
                self._commits[parent].tree,
                [parent],
                message,
                {"name": author_name, "email": "human@example.com"},
                {path: text},
            )
            self._refs[branch] = sha
            return sha

    def close_pull(self, number: int, closed_at: str | None = None) -> None:
        """A person closes the PR without merging it (at `closed_at`, default now)."""
        with self._lock:
            pull = self._pull(number)
            pull["state"] = "closed"
            pull["closed_at"] = closed_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    # ---- git object store --------------------------------------------------------------------
    def _make_commit(
        self, base_tree: dict[str, str], parents: list[str], message: str, author: dict[str, str], files: dict[str, str]
    ) -> str:
        tree = dict(base_tree)
        for path, text in files.items():
            data = text.encode("utf-8")
            blob = _git_sha("blob", data)
            self._blobs[blob] = data
            tree[path] = blob
        tree_sha = _git_sha("tree", "".join(f"{p}\0{s}\n" for p, s in sorted(tree.items())).encode())
        self._seq += 1
        author = {**author, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + self._seq))}
        raw = (
            f"tree {tree_sha}\n"
            + "".join(f"parent {p}\n" for p in parents)
            + f"author {author['name']} <{author['email']}> {self._seq}\n\n{message}"
        )
        sha = _git_sha("commit", raw.encode())
        self._commits[sha] = _Commit(sha, tree, tree_sha, list(parents), message, author, self._seq)
        return sha

    def _resolve(self, ref: str) -> str:
        ref = ref.removeprefix("refs/heads/")
        if ref in self._refs:
            return self._refs[ref]
        if ref in self._commits:
            return ref
        raise _not_found()

    def _ancestors(self, sha: str) -> set[str]:
        seen, todo = set(), [sha]
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(self._commits[s].parents)
        return seen

    def _write_ref(self, branch: str, new: str | None) -> None:
        old = self._refs.get(branch)
        self.ref_writes.append((f"refs/heads/{branch}", old, new))
        if new is None:
            self._refs.pop(branch, None)
        else:
            self._refs[branch] = new

    # ---- JSON shapes -------------------------------------------------------------------------
    @property
    def _api(self) -> str:
        return f"{self.url}/repos/{self.owner}/{self.repo}"

    def _user(self, login: str) -> dict:
        return {"login": login, "id": abs(hash(login)) % 10**6, "type": "User", "url": f"{self.url}/users/{login}"}

    def _repo_json(self) -> dict:
        return {
            "id": 1,
            "node_id": "R_1",
            "name": self.repo,
            "full_name": f"{self.owner}/{self.repo}",
            "owner": {**self._user(self.owner), "type": "Organization"},
            "private": True,
            "html_url": f"https://github.com/{self.owner}/{self.repo}",
            "url": self._api,
            "default_branch": self.default_branch,
        }

    def _ref_json(self, branch: str) -> dict:
        sha = self._refs[branch]
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": f"REF_{branch}",
            "url": f"{self._api}/git/refs/heads/{branch}",
            "object": {"sha": sha, "type": "commit", "url": f"{self._api}/git/commits/{sha}"},
        }

    def _git_commit_json(self, c: _Commit) -> dict:
        return {
            "sha": c.sha,
            "node_id": f"C_{c.sha[:8]}",
            "url": f"{self._api}/git/commits/{c.sha}",
            "html_url": f"https://github.com/{self.owner}/{self.repo}/commit/{c.sha}",
            "author": c.author,
            "committer": c.author,
            "message": c.message,
            "tree": {"sha": c.tree_sha, "url": f"{self._api}/git/trees/{c.tree_sha}"},
            "parents": [{"sha": p, "url": f"{self._api}/git/commits/{p}"} for p in c.parents],
        }

    def _commit_json(self, c: _Commit) -> dict:
        git = self._git_commit_json(c)
        return {
            "sha": c.sha,
            "node_id": git["node_id"],
            "url": f"{self._api}/commits/{c.sha}",
            "html_url": git["html_url"],
            "author": None,
            "committer": None,
            "commit": {k: git[k] for k in ("author", "committer", "message", "tree", "url")},
            "parents": [{"sha": p, "url": f"{self._api}/commits/{p}"} for p in c.parents],
        }

    def _content_json(self, path: str, blob: str, ref: str) -> dict:
        data = self._blobs[blob]
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": _b64_lines(data),
            "sha": blob,
            "url": f"{self._api}/contents/{quote(path)}?ref={quote(ref)}",
            "git_url": f"{self._api}/git/blobs/{blob}",
            "html_url": f"https://github.com/{self.owner}/{self.repo}/blob/{ref}/{path}",
            "download_url": None,
        }

    def _label_json(self, name: str) -> dict:
        return dict(self._labels[name])

    def _pull_json(self, p: dict) -> dict:
        n = p["number"]
        head_sha = self._refs.get(p["head"], p["head_sha"])
        side = lambda ref, sha: {
            "label": f"{self.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self._user(self.owner),
            "repo": self._repo_json(),
        }
        return {
            "url": f"{self._api}/pulls/{n}",
            "id": 1000 + n,
            "node_id": f"PR_{n}",
            "html_url": f"https://github.com/{self.owner}/{self.repo}/pull/{n}",
            "issue_url": f"{self._api}/issues/{n}",
            "comments_url": f"{self._api}/issues/{n}/comments",
            "number": n,
            "state": p["state"],
            "locked": False,
            "title": p["title"],
            "body": p["body"],
            "user": self._user("meta-bot"),
            "labels": [self._label_json(x) for x in p["labels"]],
            "head": side(p["head"], head_sha),
            "base": side(p["base"], self._refs[p["base"]]),
            "draft": False,
            "merged": False,
            "merged_at": None,
            "closed_at": p.get("closed_at"),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }

    def _issue_json(self, p: dict) -> dict:
        pj = self._pull_json(p)
        keep = ("number", "title", "body", "state", "labels", "user", "comments_url", "html_url", "locked")
        return {
            **{k: pj[k] for k in keep},
            "id": 2000 + p["number"],
            "url": pj["issue_url"],
            "pull_request": {"url": pj["url"], "html_url": pj["html_url"]},
        }

    def _comment_json(self, c: dict) -> dict:
        n = c["issue"]
        return {
            "id": c["id"],
            "node_id": f"IC_{c['id']}",
            "url": f"{self._api}/issues/comments/{c['id']}",
            "html_url": f"https://github.com/{self.owner}/{self.repo}/pull/{n}#issuecomment-{c['id']}",
            "issue_url": f"{self._api}/issues/{n}",
            "body": c["body"],
            "user": self._user("meta-bot"),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }

    def _pull(self, number: int) -> dict:
        for p in self._pulls:
            if p["number"] == number:
                return p
        raise _not_found()

    # ---- HTTP ----------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        path = unquote(split.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = Request(h.command, path, query, body)
        extra: dict[str, str] = {}
        with self._lock:
            self.requests.append(req)
            try:
                auth = h.headers.get("Authorization", "")
                if auth not in (f"token {self.token}", f"Bearer {self.token}"):
                    raise _HTTPError(401, {"message": "Bad credentials"})
                injected = self._take_injection(h.command, path)
                if injected is not None and not injected.apply:
                    raise _HTTPError(injected.status, injected.body, injected.headers)
                status, payload, extra = self._dispatch(h.command, path, query, body)
                if injected is not None:
                    raise _HTTPError(injected.status, injected.body, injected.headers)
            except _HTTPError as e:
                status, payload, extra = e.status, e.body, e.headers
            req.status = status
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            **extra,
        }
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        for inj in self._injections:
            if inj.times > 0 and inj.method == method and inj.pattern.search(path):
                inj.times -= 1
                return inj
        return None

    def _page(self, items: list, query: dict[str, str], path: str) -> tuple[int, list, dict[str, str]]:
        per_page = max(1, min(100, int(query.get("per_page", 30))))
        page = max(1, int(query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        headers = {}
        if page < last:
            rest = "&".join(f"{k}={quote(v)}" for k, v in query.items() if k not in ("page", "per_page"))
            link = lambda p: f"<{self.url}{path}?{rest}&per_page={per_page}&page={p}>"
            headers["Link"] = f'{link(page + 1)}; rel="next", {link(last)}; rel="last"'
        return 200, items[(page - 1) * per_page : page * per_page], headers

    def _dispatch(self, method: str, path: str, q: dict[str, str], body) -> tuple[int, object, dict[str, str]]:
        prefix = f"/repos/{self.owner}/{self.repo}"
        if not (path == prefix or path.startswith(prefix + "/")):
            raise _not_found()
        route = path[len(prefix) :]
        body = body if isinstance(body, dict) else {"_list": body}
        for pattern, verb, handler in self._routes():
            m = re.fullmatch(pattern, route)
            if m and verb == method:
                result = handler(*m.groups(), q=q, body=body, path=path)
                return result if len(result) == 3 else (*result, {})
        raise _not_found()

    def _routes(self):
        return [
            (r"", "GET", lambda **_: (200, self._repo_json())),
            (r"/git/ref/heads/(.+)", "GET", self._get_ref),
            (r"/git/refs/heads/(.+)", "GET", self._get_ref),
            (r"/git/refs", "POST", self._create_ref),
            (r"/git/refs/heads/(.+)", "PATCH", self._update_ref),
            (r"/git/refs/heads/(.+)", "DELETE", self._delete_ref),
            (r"/contents/(.+)", "GET", self._get_contents),
            (r"/contents/(.+)", "PUT", self._put_contents),
            (r"/commits", "GET", self._list_commits),
            (
                r"/commits/([0-9a-f]{40})",
                "GET",
                lambda sha, **_: (200, self._commit_json(self._commits[self._resolve(sha)])),
            ),
            (r"/compare/(.+)\.\.\.(.+)", "GET", self._compare),
            (r"/pulls", "GET", self._list_pulls),
            (r"/pulls", "POST", self._create_pull),
            (r"/pulls/(\d+)", "GET", lambda n, **_: (200, self._pull_json(self._pull(int(n))))),
            (r"/pulls/(\d+)", "PATCH", self._edit_pull),
            (r"/issues/(\d+)", "GET", lambda n, **_: (200, self._issue_json(self._pull(int(n))))),
            (r"/issues/(\d+)/labels", "POST", self._add_labels),
            (r"/issues/(\d+)/comments", "GET", self._list_comments),
            (r"/issues/(\d+)/comments", "POST", self._create_comment),
            (r"/issues/comments/(\d+)", "PATCH", self._edit_comment),
            (r"/labels", "GET", lambda q, path, **_: self._page([self._label_json(n) for n in self._labels], q, path)),
            (r"/labels/([^/]+)", "GET", self._get_label),
            (r"/labels", "POST", self._create_label),
        ]

    # ---- handlers ----------------------------------------------------------------------------
    def _get_ref(self, branch, **_):
        if branch not in self._refs:
            raise _not_found()
        return 200, self._ref_json(branch)

    def _create_ref(self, body, **_):
        ref, sha = body.get("ref", ""), body.get("sha", "")
        if not ref.startswith("refs/heads/") or ref.count("/") < 2:
            raise _HTTPError(422, {"message": "Reference name must start with 'refs/' and have at least two slashes."})
        branch = ref.removeprefix("refs/heads/")
        if branch in self._refs:
            raise _HTTPError(422, {"message": "Reference already exists"})
        if sha not in self._commits:
            raise _HTTPError(422, {"message": "Object does not exist"})
        self._write_ref(branch, sha)
        return 201, self._ref_json(branch)

    def _update_ref(self, branch, body, **_):
        if branch not in self._refs:
            raise _HTTPError(422, {"message": "Reference does not exist"})
        sha = body.get("sha", "")
        if sha not in self._commits:
            raise _HTTPError(422, {"message": "Object does not exist"})
        if not body.get("force") and self._refs[branch] not in self._ancestors(sha):
            raise _HTTPError(422, {"message": "Update is not a fast forward"})
        self._write_ref(branch, sha)
        return 200, self._ref_json(branch)

    def _delete_ref(self, branch, **_):
        if branch not in self._refs:
            raise _HTTPError(422, {"message": "Reference does not exist"})
        self._write_ref(branch, None)
        return 204, None

    def _get_contents(self, fpath, q, **_):
        ref = q.get("ref", self.default_branch)
        blob = self._commits[self._resolve(ref)].tree.get(fpath)
        if blob is None:
            raise _not_found()
        return 200, self._content_json(fpath, blob, ref)

    def _put_contents(self, fpath, body, **_):
        branch = body.get("branch") or self.default_branch
        if not isinstance(body.get("message"), str) or not isinstance(body.get("content"), str):
            raise _HTTPError(422, {"message": 'Invalid request.\n\n"message", "content" weren\'t supplied.'})
        if branch not in self._refs:
            raise _HTTPError(404, {"message": f"Branch {branch} not found"})
        parent = self._commits[self._refs[branch]]
        current = parent.tree.get(fpath)
        if current is not None and "sha" not in body:
            raise _HTTPError(422, {"message": 'Invalid request.\n\n"sha" wasn\'t supplied.'})
        if current is not None and body["sha"] != current:
            raise _HTTPError(409, {"message": f"{fpath} does not match {body['sha']}"})
        text = base64.b64decode(body["content"]).decode("utf-8")
        author = body.get("author") or {
            "name": "github-actions[bot]",
            "email": "github-actions[bot]@users.noreply.github.com",
        }
        sha = self._make_commit(parent.tree, [parent.sha], body["message"], author, {fpath: text})
        self._write_ref(branch, sha)
        commit = self._commits[sha]
        return (201 if current is None else 200), {
            "content": self._content_json(fpath, commit.tree[fpath], branch),
            "commit": self._git_commit_json(commit),
        }

    def _list_commits(self, q, path, **_):
        head = self._resolve(q.get("sha", self.default_branch))
        shas = sorted(self._ancestors(head), key=lambda s: -self._commits[s].seq)
        return self._page([self._commit_json(self._commits[s]) for s in shas], q, path)

    def _compare(self, base, head, **_):
        base_sha, head_sha = self._resolve(base), self._resolve(head)
        in_base, in_head = self._ancestors(base_sha), self._ancestors(head_sha)
        common = in_base & in_head
        merge_base = max(common, key=lambda s: self._commits[s].seq)
        ahead = sorted(in_head - in_base, key=lambda s: self._commits[s].seq)
        behind = in_base - in_head
        old, new = self._commits[merge_base].tree, self._commits[head_sha].tree
        files = [
            {
                "sha": new.get(p) or old.get(p),
                "filename": p,
                "status": "added" if p not in old else "removed" if p not in new else "modified",
            }
            for p in sorted(set(old) | set(new))
            if old.get(p) != new.get(p)
        ]
        status = (
            "identical"
            if not ahead and not behind
            else "behind"
            if not ahead
            else "ahead"
            if not behind
            else "diverged"
        )
        return 200, {
            "url": f"{self._api}/compare/{base}...{head}",
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "base_commit": self._commit_json(self._commits[base_sha]),
            "merge_base_commit": self._commit_json(self._commits[merge_base]),
            "commits": [self._commit_json(self._commits[s]) for s in ahead],
            "files": files,
        }

    def _list_pulls(self, q, path, **_):
        state = q.get("state", "open")
        found = [p for p in self._pulls if state == "all" or p["state"] == state]
        if ":" in q.get("head", ""):  # like GitHub, a head without "owner:" is ignored
            owner, ref = q["head"].split(":", 1)
            found = [p for p in found if owner == self.owner and p["head"] == ref]
        if "base" in q:
            found = [p for p in found if p["base"] == q["base"]]
        return self._page([self._pull_json(p) for p in found], q, path)

    def _create_pull(self, body, **_):
        head, base = body.get("head", ""), body.get("base", "")
        if not body.get("title"):
            raise _validation("PullRequest", "missing_field", fld="title")
        head_ref = head.split(":", 1)[1] if ":" in head else head
        if head_ref not in self._refs:
            raise _validation("PullRequest", "invalid", fld="head")
        if base not in self._refs:
            raise _validation("PullRequest", "invalid", fld="base")
        if any(p["head"] == head_ref and p["state"] == "open" for p in self._pulls):
            raise _validation("PullRequest", "custom", f"A pull request already exists for {self.owner}:{head_ref}.")
        if self._refs[head_ref] in self._ancestors(self._refs[base]):
            raise _validation("PullRequest", "custom", f"No commits between {base} and {head_ref}")
        number = 1 + max([p["number"] for p in self._pulls], default=0)
        pull = {
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body.get("body"),
            "head": head_ref,
            "base": base,
            "labels": [],
            "head_sha": self._refs[head_ref],
        }
        self._pulls.append(pull)
        return 201, self._pull_json(pull)

    def _edit_pull(self, n, body, **_):
        pull = self._pull(int(n))
        if body.get("state") == "closed" and pull["state"] == "open":  # GitHub stamps the close
            pull["closed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for key in ("title", "body", "state"):
            if key in body:
                pull[key] = body[key]
        return 200, self._pull_json(pull)

    def _add_labels(self, n, body, **_):
        pull = self._pull(int(n))
        names = body.get("labels", body.get("_list")) or []
        for name in names:
            if name not in self._labels:  # GitHub creates unknown labels with a default colour
                self._new_label(name, "ededed", None)
            if name not in pull["labels"]:
                pull["labels"].append(name)
        return 200, [self._label_json(x) for x in pull["labels"]]

    def _list_comments(self, n, q, path, **_):
        self._pull(int(n))
        return self._page([self._comment_json(c) for c in self._comments if c["issue"] == int(n)], q, path)

    def _create_comment(self, n, body, **_):
        self._pull(int(n))
        if not isinstance(body.get("body"), str):
            raise _validation("IssueComment", "missing_field", fld="body")
        comment = {"id": 500 + len(self._comments), "issue": int(n), "body": body["body"]}
        self._comments.append(comment)
        return 201, self._comment_json(comment)

    def _edit_comment(self, cid, body, **_):
        for c in self._comments:
            if c["id"] == int(cid):
                c["body"] = body.get("body", c["body"])
                return 200, self._comment_json(c)
        raise _not_found()

    def _get_label(self, name, **_):
        if name not in self._labels:
            raise _not_found()
        return 200, self._label_json(name)

    def _new_label(self, name: str, color: str, description: str | None) -> None:
        self._labels[name] = {
            "id": 300 + len(self._labels),
            "node_id": f"L_{name}",
            "url": f"{self._api}/labels/{quote(name, safe='')}",
            "name": name,
            "color": color,
            "description": description,
            "default": False,
        }

    def _create_label(self, body, **_):
        name = body.get("name", "")
        if name in self._labels:
            raise _validation("Label", "already_exists", fld="name")
        self._new_label(name, body.get("color", "ededed"), body.get("description"))
        return 201, self._label_json(name)
