"""HTTP connections pinned to a checked address and held to one deadline.

A connection goes to one of the addresses the host name was resolved to when it was
checked (never to a fresh DNS answer), with the name in the Host header and TLS SNI. Every
socket operation (connecting, each piece sent, each read of the answer) gets only the time
left before the deadline of the whole exchange.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time

from automations.outbound.addresses import Target

SEND_PIECE = 16 * 1024  # bytes sent at a time, each within the time left


def time_left(deadline: float) -> float:
    """Seconds until ``deadline`` (a time.monotonic() value); TimeoutError once it passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def pinned_connection(target: Target, deadline: float) -> http.client.HTTPConnection:
    """A connection to ``target``'s checked addresses (HTTPS for an https URL); TimeoutError
    when the deadline has passed already."""
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    return cls(target, deadline)


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
        self._sock.settimeout(time_left(self._deadline))
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
            self.sock.settimeout(time_left(self.deadline))  # type: ignore[union-attr]
            self.sock.sendall(view[start : start + SEND_PIECE])  # type: ignore[union-attr]


class _PinnedHTTPConnection(_DeadlineMixin, http.client.HTTPConnection):  # type: ignore[misc]
    """Connects to one of the checked addresses; Host header stays the name."""

    def __init__(self, target: Target, deadline: float) -> None:
        super().__init__(target.host, target.port, timeout=time_left(deadline))
        self.addresses = target.addresses
        self.deadline = deadline

    def connect(self) -> None:
        self.sock = self._connect_pinned()


class _PinnedHTTPSConnection(_DeadlineMixin, http.client.HTTPSConnection):  # type: ignore[misc]
    def __init__(self, target: Target, deadline: float) -> None:
        super().__init__(
            target.host,
            target.port,
            timeout=time_left(deadline),
            context=ssl.create_default_context(),
        )
        self.addresses = target.addresses
        self.deadline = deadline

    def connect(self) -> None:
        sock = self._connect_pinned()
        try:
            # The handshake as a whole is bounded by the socket's timeout (CPython's ssl
            # module counts down one deadline across its waits).
            sock.settimeout(time_left(self.deadline))
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
        except BaseException:
            sock.close()
            raise


def _connect_any(addresses: tuple[str, ...], port: int, deadline: float) -> socket.socket:
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=time_left(deadline))
        except TimeoutError:
            raise
        except OSError as exc:  # refused or unreachable: the next address may answer
            error = exc
    assert error is not None
    raise error
