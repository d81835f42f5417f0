"""HTTP adapters (webhook, SMS gateway) share one posting helper: no redirects,
no proxies from the environment, a hard timeout, the idempotency header."""

from __future__ import annotations

import httpx

from alerts.channels.base import DELIVERY_HEADER, DeliveryError, raise_for_http_status


def client(timeout_s: float) -> httpx.Client:
    return httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False)


def post(http: httpx.Client, url: str, *, body: bytes, delivery_id: int,
         headers: dict[str, str] | None = None) -> None:
    all_headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Keywatch/1.0", DELIVERY_HEADER: str(delivery_id),
                   **(headers or {})}
    try:
        response = http.post(url, content=body, headers=all_headers)
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timed out ({exc.__class__.__name__})") from exc
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{exc.__class__.__name__}: {exc}"[:300]) from exc
    raise_for_http_status(response.status_code, response.headers.get("location"))
