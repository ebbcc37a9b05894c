"""The one client for requests to customer-configured URLs (webhooks, URL sources).

It refuses addresses on private networks (a customer's URL must not reach our own
services or a cloud metadata endpoint), follows only 307/308 redirects and checks each
target again, and connects to the address it checked: the host name is resolved once per
hop and the socket goes to that IP, with the name sent as Host header and TLS SNI, so a
DNS answer that changes between the check and the connection (rebinding) cannot reach a
private address. Pure Python: settings are passed in.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

MAX_BODY_BYTES = 64 * 1024
SEND_PIECE = 16 * 1024  # bytes sent at a time, each within the time left
REDIRECTS_FOLLOWED = (307, 308)  # the only ones that keep the method and the body
# Said for any refused address: never which address a name resolves to, as that would let
# a tenant map the internal network through error messages.
BLOCKED_MESSAGE = "This address points to a private network, which Pyq may not call."

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundError(Exception):
    """A request that did not get an answer; ``transient`` when trying again may help."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class OutboundBlocked(OutboundError):
    """The URL resolves to an address on a private network (never transient). The message
    does not say the address; ``address`` is for the operator's logs only."""

    def __init__(
        self, message: str = BLOCKED_MESSAGE, *, host: str = "", address: str = ""
    ) -> None:
        super().__init__(message, transient=False)
        self.host = host
        self.address = address


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body_preview: bytes = b""  # at most MAX_BODY_BYTES

    @property
    def transient(self) -> bool:
        return is_transient_status(self.status)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def is_transient_status(status: int) -> bool:
    """429 and 5xx answers may go away when asked again; other failures will not."""
    return status == 429 or status >= 500


def is_blocked_address(ip: IPAddress) -> bool:
    """True for addresses that are not public unicast ones, including IPv6 forms that
    embed a private IPv4 address (mapped, 6to4, NAT64, Teredo)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if ip in NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(is_blocked_address(inner) for inner in embedded):
            return True
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_url(url: str, *, allow_private: bool = False) -> None:
    """Raise OutboundBlocked if ``url`` resolves to any private address, OutboundError if
    it is not an http(s) URL with a host or its host cannot be resolved."""
    _target(url, allow_private)


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
        target = _target(url, allow_private)
        response = _post(target, body, headers, timeout, deadline)
        location = response.headers.get("location")
        if response.status not in REDIRECTS_FOLLOWED or not location:
            return response
        if hop == max_redirects:
            break
        url = urljoin(url, location)
    raise OutboundError(f"{_host(url)} redirected more than {max_redirects} times.")


def _target(url: str, allow_private: bool) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError(f"{url!r} is not a valid URL: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundError(f"Only http and https URLs can be called, not {scheme or url!r}.")
    host = parts.hostname
    if not host:
        raise OutboundError(f"{url!r} has no host name.")
    if parts.username or parts.password:
        raise OutboundError("A URL with a user name or password in it is not accepted.")
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not allow_private:
        for address in addresses:
            if is_blocked_address(ipaddress.ip_address(address)):
                raise OutboundBlocked(host=host, address=address)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(scheme, host, port, path, addresses)


def _resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address ``host`` resolves to (numeric forms like 2130706433 included)."""
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        transient = exc.errno == socket.EAI_AGAIN
        raise OutboundError(
            f"{host} could not be found: {exc.strerror}.", transient=transient
        ) from None
    except UnicodeError:
        raise OutboundError(f"{host!r} is not a valid host name.") from None
    addresses: list[str] = []
    for family, *_, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 scope id
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundError(f"{host} could not be found.")
    return tuple(addresses)


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes, each read given only the time left before the deadline.

    A socket timeout bounds one read; http.client reads the status line and each header
    line separately, so without this a receiver sending a line every second stays
    within any per-read timeout for as long as it likes."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        # The socket's own reader: it keeps the socket open while the answer is read after
        # the connection lets go of it (as http.client does for "Connection: close").
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:  # type: ignore[override]
        self._sock.settimeout(_time_left(self._deadline))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """What HTTPResponse is given: it only calls ``makefile("rb")``."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str = "rb", *args, **kwargs) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineMixin:
    """Connects to one of the checked addresses within the deadline, sends within what is
    left, and reads the answer through a _DeadlineReader."""

    addresses: tuple[str, ...]
    deadline: float
    port: int
    sock: socket.socket | None

    def _connect_pinned(self) -> socket.socket:
        return _connect_any(self.addresses, self.port, self.deadline)

    def response_class(self, sock: socket.socket, *args, **kwargs) -> http.client.HTTPResponse:  # type: ignore[override]
        return http.client.HTTPResponse(_DeadlineSocket(sock, self.deadline), *args, **kwargs)  # type: ignore[arg-type]

    def send(self, data) -> None:  # type: ignore[no-untyped-def]
        """Send in pieces, each given only the time left: a receiver that reads slowly
        cannot stretch the request past the deadline (TLS sends have no total bound)."""
        if self.sock is None:
            self.connect()  # type: ignore[attr-defined]
        if not isinstance(data, bytes | bytearray | memoryview):
            super().send(data)  # type: ignore[misc]
            return
        view = memoryview(data)
        for start in range(0, len(view), SEND_PIECE):
            self.sock.settimeout(_time_left(self.deadline))  # type: ignore[union-attr]
            self.sock.sendall(view[start : start + SEND_PIECE])  # type: ignore[union-attr]


class _PinnedHTTPConnection(_DeadlineMixin, http.client.HTTPConnection):  # type: ignore[misc]
    """Connects to one of the checked addresses; Host header stays the name."""

    def __init__(self, target: _Target, deadline: float) -> None:
        super().__init__(target.host, target.port, timeout=_time_left(deadline))
        self.addresses = target.addresses
        self.deadline = deadline

    def connect(self) -> None:
        self.sock = self._connect_pinned()


class _PinnedHTTPSConnection(_DeadlineMixin, http.client.HTTPSConnection):  # type: ignore[misc]
    def __init__(self, target: _Target, deadline: float) -> None:
        super().__init__(
            target.host,
            target.port,
            timeout=_time_left(deadline),
            context=ssl.create_default_context(),
        )
        self.addresses = target.addresses
        self.deadline = deadline

    def connect(self) -> None:
        sock = self._connect_pinned()
        try:
            # The handshake as a whole is bounded by the socket's timeout (CPython's ssl
            # module counts down one deadline across its waits).
            sock.settimeout(_time_left(self.deadline))
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
        except BaseException:
            sock.close()
            raise


def _connect_any(addresses: tuple[str, ...], port: int, deadline: float) -> socket.socket:
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=_time_left(deadline))
        except TimeoutError:
            raise
        except OSError as exc:  # refused or unreachable: the next address may answer
            error = exc
    assert error is not None
    raise error


def _post(
    target: _Target, body: bytes, headers: dict[str, str], timeout: float, deadline: float
) -> Response:
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    try:
        connection = cls(target, deadline)
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
        _time_left(deadline)
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
