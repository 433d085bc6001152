"""Hugging Face Hub access that fails fast, with a message saying what to do, when offline.

Reachability is probed the way the download libraries connect: through the proxy the environment names
for the URL (HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, upper or lower case, skipped for hosts in NO_PROXY —
what requests and huggingface_hub's HTTP client read), with an HTTP CONNECT to the target for https, and
the whole probe — DNS lookup, connection, the proxy's answer — bounded by one timeout (a lookup that hangs
cannot be interrupted, so the probe runs in a daemon thread that is abandoned when the time is up)."""
from __future__ import annotations

import base64
import os
import socket
import threading
import time
import urllib.request
from urllib.parse import unquote, urlparse


class HubUnavailable(RuntimeError):
    pass


def endpoint() -> str:
    """The Hub's base URL (HF_ENDPOINT, as huggingface_hub reads it)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def proxy_for(url: str) -> str | None:
    """The proxy URL the environment gives for `url` (None: connect directly), as requests resolves it:
    <scheme>_proxy, else all_proxy, unless the host matches no_proxy; a proxy written without a scheme is
    http://."""
    proxies = urllib.request.getproxies_environment()
    target = urlparse(url)
    if urllib.request.proxy_bypass_environment(target.hostname or "", proxies):
        return None
    proxy = proxies.get(target.scheme) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _default_port(scheme: str) -> int:
    return 80 if scheme == "http" else 443


def _probe(url: str, deadline: float) -> str | None:
    """Why `url`'s host cannot be reached (directly, or through its proxy), or None if it can."""
    target = urlparse(url)
    host, port = target.hostname or "", target.port or _default_port(target.scheme)
    proxy = proxy_for(url)
    left = lambda: max(0.01, deadline - time.monotonic())  # noqa: E731
    if proxy is None:
        try:
            socket.create_connection((host, port), timeout=left()).close()
            return None
        except OSError as err:
            return f"cannot reach {host}:{port} ({err.__class__.__name__}: {err})"
    p = urlparse(proxy)
    if p.scheme != "http":  # an https:// or socks proxy: the probe does not speak it; the download decides
        return None
    where = f"{host}:{port} through the proxy {p.hostname}:{p.port or 80}"
    if target.scheme == "https":  # a tunnel, as the libraries open one
        request = f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    else:  # plain http goes to the proxy in absolute form
        request = f"HEAD {url} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
    if p.username:
        credentials = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
        request += f"Proxy-Authorization: Basic {base64.b64encode(credentials).decode()}\r\n"
    try:
        with socket.create_connection((p.hostname, p.port or 80), timeout=left()) as conn:
            conn.settimeout(left())
            conn.sendall((request + "\r\n").encode())
            answer = b""
            while b"\r\n" not in answer:
                conn.settimeout(left())
                chunk = conn.recv(1024)
                if not chunk:
                    break
                answer += chunk
    except OSError as err:
        return f"cannot reach {where} ({err.__class__.__name__}: {err})"
    status = answer.split(b"\r\n", 1)[0].decode("latin-1").strip()
    parts = status.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return f"cannot reach {where} (the proxy answered {status!r})"
    code = int(parts[1])
    bad = code >= 300 if target.scheme == "https" else code in (502, 503, 504)
    return f"cannot reach {where} (the proxy answered {status!r})" if bad else None


def unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why `url`'s host cannot be reached within `timeout` seconds — DNS, connection and proxy included —
    or None if it can."""
    result: list[str | None] = []
    probe = threading.Thread(target=lambda: result.append(_probe(url, time.monotonic() + timeout)), daemon=True)
    probe.start()
    probe.join(timeout)
    if not result:
        proxy = proxy_for(url)
        how = f" through the proxy {proxy}" if proxy else ""
        return f"no answer from {urlparse(url).hostname}{how} within {timeout:g} s (name lookup or connection)"
    return result[0]


def offline_reason(timeout: float = 3.0) -> str | None:
    """Why the Hub cannot be used right now (HF_HUB_OFFLINE, or no connection within `timeout` s), or None."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return "HF_HUB_OFFLINE is set"
    return unreachable(endpoint(), timeout=timeout)


def go_offline() -> None:
    """From here on, Hugging Face libraries read only their local caches (and fail fast otherwise)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import sys

    if "datasets" in sys.modules:  # the flag is read at import; correct it if datasets came first
        sys.modules["datasets"].config.HF_HUB_OFFLINE = True
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].constants.HF_HUB_OFFLINE = True


def ensure_hub_reachable(what: str, fix: str, timeout: float = 3.0) -> None:
    """Raise HubUnavailable within `timeout` seconds if the Hub cannot be used.

    `what` names the thing being fetched, `fix` says how to provide it locally instead."""
    reason = offline_reason(timeout)
    if reason:
        raise HubUnavailable(f"Cannot download {what} from the Hugging Face Hub: {reason}. {fix}")
