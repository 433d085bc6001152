"""Hub access as clusters have it (xlt/data/hub.py, xlt/data/sources.py, xlt/workflow/pins.py): the reachability
probe goes through HTTPS_PROXY / HTTP_PROXY (CONNECT), skips NO_PROXY hosts, and one timeout bounds all of it,
DNS included; HF_HUB_OFFLINE does not block the GitHub download; every unpinned repository is named;
snapshots skip onnx/*. Local listeners on 127.0.0.1 stand in for the proxy and the servers (no network)."""
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from xlt.data import hub
from xlt.workflow import pins
from xlt.data.tasks import UrlPart, get_task

ROOT = Path(__file__).resolve().parents[1]
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
              "no_proxy", "HF_HUB_OFFLINE", "HF_ENDPOINT", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


class Listener:
    """A TCP server on 127.0.0.1 that records the first request line of each connection and answers it with
    `reply` (None: accept and never answer; `accept=False`: never even accept — a full backlog)."""

    def __init__(self, reply: bytes | None = b"HTTP/1.1 200 Connection established\r\n\r\n", accept: bool = True):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests, self.reply, self.held = [], reply, []
        if accept:
            threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.requests.append(data.decode("latin-1"))
            if self.reply is None:
                self.held.append(conn)  # silent: the client waits for an answer that never comes
            else:
                conn.sendall(self.reply)
                conn.close()

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def listener():
    made = []

    def make(*args, **kwargs):
        made.append(Listener(*args, **kwargs))
        return made[-1]
    yield make
    for one in made:
        one.close()


def test_the_probe_tunnels_through_https_proxy_with_connect(monkeypatch, listener):
    proxy = listener()
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:p%40ss@127.0.0.1:{proxy.port}")
    assert hub.proxy_for("https://huggingface.co") == f"http://user:p%40ss@127.0.0.1:{proxy.port}"
    assert hub.offline_reason(timeout=5) is None  # the proxy opened the tunnel: the Hub is reachable
    (request,) = proxy.requests
    assert request.startswith("CONNECT huggingface.co:443 HTTP/1.1\r\n")
    assert "Proxy-Authorization: Basic dXNlcjpwQHNz" in request  # user:p@ss, as requests sends it
    # lower-case names and a proxy without a scheme work as requests reads them; HF_ENDPOINT is the target
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("https_proxy", f"127.0.0.1:{proxy.port}")
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org:8443")
    assert hub.offline_reason(timeout=5) is None
    assert proxy.requests[-1].startswith("CONNECT hub.example.org:8443 HTTP/1.1\r\n")


def test_a_refusing_proxy_is_named_with_its_answer(monkeypatch, listener):
    proxy = listener(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    reason = hub.offline_reason(timeout=5)
    assert f"huggingface.co:443 through the proxy 127.0.0.1:{proxy.port}" in reason
    assert "407 Proxy Authentication Required" in reason


def test_http_targets_go_through_http_proxy_and_all_proxy_is_the_fallback(monkeypatch, listener):
    proxy = listener(b"HTTP/1.1 200 OK\r\n\r\n")
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example.org")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    assert hub.offline_reason(timeout=5) is None
    assert proxy.requests[-1].startswith("HEAD http://mirror.example.org HTTP/1.1\r\n")  # absolute form
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("HF_ENDPOINT")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{proxy.port}")
    assert hub.proxy_for("https://huggingface.co") == f"http://127.0.0.1:{proxy.port}"
    monkeypatch.setenv("ALL_PROXY", "socks5h://127.0.0.1:1")  # not spoken by the probe: left to the library
    assert hub.offline_reason(timeout=5) is None


def test_no_proxy_hosts_are_reached_directly(monkeypatch, listener):
    proxy, server = listener(), listener()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("HF_ENDPOINT", f"https://localhost:{server.port}")
    for no_proxy in ("localhost", "example.org,localhost", "*"):
        monkeypatch.setenv("NO_PROXY", no_proxy)
        assert hub.proxy_for(hub.endpoint()) is None
        assert hub.offline_reason(timeout=5) is None
    assert proxy.requests == []  # every probe went straight to the server
    monkeypatch.setenv("NO_PROXY", ".huggingface.co")
    assert hub.proxy_for("https://cdn-lfs.huggingface.co") is None
    assert hub.proxy_for("https://localhost") == f"http://127.0.0.1:{proxy.port}"


def test_a_silent_proxy_is_bounded_by_the_timeout(monkeypatch, listener):
    for proxy in (listener(reply=None), listener(accept=False)):  # answers nothing / never accepts
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        t0 = time.monotonic()
        reason = hub.offline_reason(timeout=0.5)
        assert time.monotonic() - t0 < 2.0
        assert reason and "huggingface.co" in reason and f"127.0.0.1:{proxy.port}" in reason


def test_the_timeout_bounds_a_hanging_name_lookup(monkeypatch):
    """socket timeouts do not cover getaddrinfo: a resolver that hangs must not hang the probe."""
    release = threading.Event()

    def hanging_lookup(*args, **kwargs):
        release.wait(30)
        raise socket.gaierror("lookup released")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    try:
        t0 = time.monotonic()
        reason = hub.unreachable("https://huggingface.co", timeout=0.5)
        assert time.monotonic() - t0 < 2.0
        assert reason == "no answer from huggingface.co within 0.5 s (name lookup or connection)"
    finally:
        release.set()


def test_hub_offline_does_not_block_the_github_download(tmp_path, monkeypatch, listener):
    """Cosmos QA comes from GitHub, not the Hub: with HF_HUB_OFFLINE set (and no Hub at all) it is still
    downloaded, once, into the xlt cache."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from xlt.data.sources import prepare_split, url_cache

    csv = "id,context,question,answer0,answer1,answer2,answer3,label\nq1,ctx,Why?,None,NA,,null,0\n"

    class Files(BaseHTTPRequestHandler):
        def do_GET(self):
            body = csv.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
        task = get_task("cosmos_qa")
        part = task.hub["validation"]
        url = f"http://127.0.0.1:{server.server_address[1]}/{{revision}}/valid.csv"
        monkeypatch.setitem(task.hub, "validation", UrlPart(url, "csv", part.repo, part.revision))
        df = prepare_split(task, {"hub": {}}, "dev")
        assert list(df.loc[0, "choices"]) == ["None", "NA", "", "null"]
        assert url_cache(url.format(revision=part.revision)).exists()
        assert df.attrs["provenance"]["revisions"] == {part.repo: part.revision}
    finally:
        server.shutdown()


def test_every_unpinned_repository_is_named():
    study = yaml.safe_load((ROOT / "config.yaml").read_text())
    # the seven the study reads at a branch's head today (no Hub access was had to pin them)
    assert pins.unpinned(study) == ["Rowan/hellaswag", "bigscience/bloom-1b7", "google-research-datasets/paws-x",
                                    "google-research-datasets/tydiqa", "rajpurkar/squad", "rajpurkar/squad_v2",
                                    "tau/commonsense_qa"]
    warning = pins.unpinned_warning(study)
    assert warning.startswith("warning: 7 repositories are read at the current commit of a branch")
    assert all(repo in warning for repo in pins.unpinned(study)) and "python -m xlt.workflow.pins refresh" in warning
    pinned = {**study, "hub_revisions": {**study["hub_revisions"], **dict.fromkeys(pins.unpinned(study), "a" * 40)}}
    assert pins.unpinned(pinned) == [] and pins.unpinned_warning(pinned) is None
    # a per-task commit pins the task's repository; a branch name or a models.<name>.revision branch does not
    one = {**study, "datasets": {**study["datasets"], "squad": {"hub": {"revision": "b" * 40}}},
           "models": {**study["models"], "bloom-1b7": {**study["models"]["bloom-1b7"], "revision": "main"}}}
    assert "rajpurkar/squad" not in pins.unpinned(one) and "bigscience/bloom-1b7" in pins.unpinned(one)
    # a repository several tasks read (GLUE: MNLI, QQP, ANLI+) is pinned only when every one of them reads a commit
    glue = {**study, "hub_revisions": {k: v for k, v in study["hub_revisions"].items() if k != "nyu-mll/glue"},
            "datasets": dict(study["datasets"])}
    for task in ("mnli", "qqp", "anli_plus"):
        assert "nyu-mll/glue" in pins.unpinned(glue)
        glue["datasets"][task] = {"hub": {"revisions": {"nyu-mll/glue": "c" * 40}}}
    assert "nyu-mll/glue" not in pins.unpinned(glue)
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    assert pins.unpinned(demo) == []  # generated fixtures and a built model: nothing to pin


def test_refresh_covers_every_repository_the_study_reads(tmp_path):
    """Each model's own tasks, the selection and calibration tasks and the models (the datasets of the
    workflow's plan.study_tasks), and every repository they read (HellaSwag at main)."""
    study = yaml.safe_load((ROOT / "config.yaml").read_text())
    cut = {**study, "study": {**study["study"], "intermediate": ["squad"], "multitask": False,
                              "models": {"bloom-560m": {}, "bloom-1b7": {"intermediate": ["hellaswag"]}},
                              "calibration": {**study["study"]["calibration"], "task": "qqp"}}}
    repos = pins.study_repos(cut)
    assert {"rajpurkar/squad", "Rowan/hellaswag", "nyu-mll/glue", "bigscience/bloom-1b7"} <= set(repos)
    assert repos["nyu-mll/glue"] == ("dataset", "main")  # MNLI: only the learning-rate selection reads it
    assert repos["Rowan/hellaswag"] == ("dataset", "main")  # main holds its data files, no script
    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config.yaml").read_text())
    asked = []

    class FakeApi:
        def dataset_info(self, repo, revision):
            asked.append((repo, revision))
            return SimpleNamespace(sha="d" * 40)

        def model_info(self, repo, revision):
            asked.append((repo, revision))
            return SimpleNamespace(sha="f" * 40)

    got = pins.refresh(config, api=FakeApi(), ls_remote=lambda repo, branch: "1" * 40)
    assert set(got) == set(pins.study_repos(study)) and len(got) == 12
    assert ("Rowan/hellaswag", "main") in asked
    assert pins.unpinned(yaml.safe_load(config.read_text())) == []


def test_model_snapshots_skip_onnx_exports(tmp_path, monkeypatch):
    """bigscience/bloom-560m carries onnx/ beside its weights (config.json, tokenizer.json and the exported
    model): the snapshot's filter — online as the download's patterns, offline when copying from a cache
    that holds more — keeps the model and tokenizer files only."""
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    from xlt.steps import data

    files = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
             "onnx/config.json", "onnx/decoder_model.onnx", "onnx/tokenizer.json", "flax_model.msgpack",
             "pytorch_model.bin", "README.md"]
    kept = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
    assert list(filter_repo_objects(files, allow_patterns=data.SNAPSHOT_FILES, ignore_patterns=data.SNAPSHOT_SKIP)) \
        == kept  # how huggingface_hub applies the patterns (online, and to a cached copy offline)
    calls = []

    class FakeApi:
        def model_info(self, repo, revision):
            return SimpleNamespace(sha="c" * 40)

    def fake_download(repo, revision, local_dir, **patterns):
        calls.append(patterns)
        for name in filter_repo_objects(files, **patterns):
            (local_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (local_dir / name).write_text("x")

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    monkeypatch.setattr(hub, "offline_reason", lambda timeout=3.0: None)
    data.snapshot_model("bigscience/bloom-560m", None, str(tmp_path / "m"))
    assert calls == [{"allow_patterns": data.SNAPSHOT_FILES, "ignore_patterns": ["onnx/*"]}]
    assert sorted(p.relative_to(tmp_path / "m").as_posix() for p in (tmp_path / "m").rglob("*") if p.is_file()) \
        == sorted([*kept, "xlt_provenance.json"])
