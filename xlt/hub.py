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


def ensure_hub_reachable(what: str, fix: str, timeout: float = 3.0) -> None:
    """Raise HubUnavailable within `timeout` seconds if the Hub cannot be used.

    `what` names the thing being fetched, `fix` says how to provide it locally instead."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        reason = "HF_HUB_OFFLINE is set"
    else:
        host, port = _endpoint()
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return
        except OSError as err:
            reason = f"cannot reach {host}:{port} ({err.__class__.__name__}: {err})"
    raise HubUnavailable(f"Cannot download {what} from the Hugging Face Hub: {reason}. {fix}")
