"""POST to a customer's URL: redirects checked hop by hop, one deadline, a capped answer."""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from automations.outbound.addresses import Target, checked_target
from automations.outbound.connection import pinned_connection, time_left
from automations.outbound.errors import OutboundError

MAX_BODY_BYTES = 64 * 1024
REDIRECTS_FOLLOWED = (307, 308)  # the only ones that keep the method and the body


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body_preview: bytes = b""  # at most MAX_BODY_BYTES

    @property
    def transient(self) -> bool:
        return is_transient_status(self.status)


def is_transient_status(status: int) -> bool:
    """429 and 5xx answers may go away when asked again; other failures will not."""
    return status == 429 or status >= 500


def check_url(url: str, *, allow_private: bool = False) -> None:
    """Raise OutboundBlocked if ``url`` resolves to any private address, OutboundError if
    it is not an http(s) URL with a host or its host cannot be resolved."""
    checked_target(url, allow_private)


def post_json(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float = 10,
    allow_private: bool = False,
    max_redirects: int = 3,
) -> Response:
    """POST ``body`` to ``url`` and return the answer, whatever its status.

    ``timeout`` is a deadline for the whole exchange, redirects included: connecting,
    sending, the status line, the headers and the body (a receiver that dribbles a header
    line at a time cannot hold the worker past it). Raises OutboundBlocked for a private
    address (also behind a redirect) and OutboundError when no answer came in time.
    """
    deadline = time.monotonic() + timeout
    for hop in range(max_redirects + 1):
        target = checked_target(url, allow_private)
        response = _post(target, body, headers, timeout, deadline)
        location = response.headers.get("location")
        if response.status not in REDIRECTS_FOLLOWED or not location:
            return response
        if hop == max_redirects:
            break
        url = urljoin(url, location)
    raise OutboundError(f"{_host(url)} redirected more than {max_redirects} times.")


def _post(
    target: Target, body: bytes, headers: dict[str, str], timeout: float, deadline: float
) -> Response:
    try:
        connection = pinned_connection(target, deadline)
    except TimeoutError:
        raise OutboundError(
            f"{target.host} did not answer within {timeout:g} s.", transient=True
        ) from None
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        answer = connection.getresponse()
        preview = _read_capped(answer, deadline)
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, preview)
    except ssl.SSLCertVerificationError as exc:
        raise OutboundError(
            f"{target.host} has an invalid certificate: {exc.verify_message}."
        ) from None
    except TimeoutError:
        raise OutboundError(
            f"{target.host} did not answer within {timeout:g} s.", transient=True
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutboundError(
            f"Could not reach {target.host}: {reason or type(exc).__name__}.", transient=True
        ) from None
    finally:
        connection.close()


def _read_capped(answer: http.client.HTTPResponse, deadline: float) -> bytes:
    """At most MAX_BODY_BYTES of the body, within the overall deadline (each read of the
    socket is also bounded by it: a server that sends one byte at a time must not hold
    the worker)."""
    chunks: list[bytes] = []
    size = 0
    while size < MAX_BODY_BYTES:
        time_left(deadline)
        chunk = answer.read1(min(8192, MAX_BODY_BYTES - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url
