"""GET a file from a customer's URL into a file of ours: each hop checked, one deadline, and
no more than a given number of bytes (an upload's limit), counted as they stream in."""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote, urljoin, urlsplit

from automations.outbound.addresses import Target, checked_target
from automations.outbound.connection import pinned_connection, time_left
from automations.outbound.errors import OutboundError

REDIRECTS = (301, 302, 303, 307, 308)  # a GET may follow them all
CHUNK = 64 * 1024


class DownloadTooLarge(OutboundError):
    """The file passed the limit while it streamed (or its Content-Length said it would)."""


@dataclass(frozen=True)
class Download:
    name: str  # the last part of the URL's path, or "download"
    content_type: str
    size: int


def download(
    url: str,
    sink: BinaryIO,
    *,
    max_bytes: int,
    timeout: float = 30,
    allow_private: bool = False,
    max_redirects: int = 3,
) -> Download:
    """Write the body of a GET of ``url`` into ``sink``, at most ``max_bytes`` of it.

    Raises OutboundBlocked for a private address (also behind a redirect), DownloadTooLarge
    past ``max_bytes``, and OutboundError for an answer other than 2xx or none in time.
    """
    deadline = time.monotonic() + timeout
    for _hop in range(max_redirects + 1):
        target = checked_target(url, allow_private)
        location = _get(target, sink, max_bytes, timeout, deadline)
        if isinstance(location, Download):
            return location
        url = urljoin(url, location)
    raise OutboundError(f"{target.host} redirected more than {max_redirects} times.")


def _get(
    target: Target, sink: BinaryIO, max_bytes: int, timeout: float, deadline: float
) -> Download | str:
    """The file written into ``sink``, or the location a redirect points to."""
    try:
        connection = pinned_connection(target, deadline)
    except TimeoutError:
        raise OutboundError(f"{target.host} did not answer within {timeout:g} s.") from None
    try:
        connection.request("GET", target.path, headers={"Accept": "*/*"})
        answer = connection.getresponse()
        location = answer.getheader("location")
        if answer.status in REDIRECTS and location:
            return location
        if not 200 <= answer.status < 300:
            raise OutboundError(f"{target.host} answered {answer.status} {answer.reason}.")
        declared = answer.getheader("content-length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
            raise DownloadTooLarge(_too_large(max_bytes))
        size = _copy_capped(answer, sink, max_bytes, deadline)
        content_type = (answer.getheader("content-type") or "").split(";")[0].strip()
        return Download(_name(target.path), content_type, size)
    except ssl.SSLCertVerificationError as exc:
        raise OutboundError(
            f"{target.host} has an invalid certificate: {exc.verify_message}."
        ) from None
    except TimeoutError:
        raise OutboundError(f"{target.host} did not answer within {timeout:g} s.") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutboundError(
            f"Could not reach {target.host}: {reason or type(exc).__name__}."
        ) from None
    finally:
        connection.close()


def _copy_capped(
    answer: http.client.HTTPResponse, sink: BinaryIO, max_bytes: int, deadline: float
) -> int:
    """Copy the body into ``sink`` within the deadline; DownloadTooLarge past max_bytes."""
    size = 0
    while True:
        time_left(deadline)
        chunk = answer.read1(CHUNK)
        if not chunk:
            return size
        size += len(chunk)
        if size > max_bytes:
            raise DownloadTooLarge(_too_large(max_bytes))
        sink.write(chunk)


def _too_large(max_bytes: int) -> str:
    return f"The file at that address is larger than {max_bytes // (1024 * 1024)} MB."


def _name(path: str) -> str:
    last = unquote(urlsplit(path).path.rsplit("/", 1)[-1])
    return last or "download"
