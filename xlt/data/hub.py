"""Hugging Face Hub access that fails fast, with a message saying what to do, when offline."""
from __future__ import annotations

import os
import socket
from urllib.parse import urlparse


class HubUnavailable(RuntimeError):
    pass


def _endpoint() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)


def unreachable(host: str, port: int, timeout: float = 3.0) -> str | None:
    """Why host:port cannot be reached within `timeout` seconds, or None if it can."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return None
    except OSError as err:
        return f"cannot reach {host}:{port} ({err.__class__.__name__}: {err})"


def offline_reason(timeout: float = 3.0) -> str | None:
    """Why the Hub cannot be used right now (HF_HUB_OFFLINE, or no connection within `timeout` s), or None."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return "HF_HUB_OFFLINE is set"
    return unreachable(*_endpoint(), timeout=timeout)


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
