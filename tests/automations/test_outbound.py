"""The outbound client: private addresses refused, redirects re-checked, connections pinned
to the checked address, timeouts. Real sockets on loopback only; names resolve from a table."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from automations import outbound
from automations.outbound import OutboundBlocked, OutboundError, addresses, check_url, post_json
from tests.loopback import Receiver

REAL_GETADDRINFO = socket.getaddrinfo
REAL_CREATE_CONNECTION = socket.create_connection
LOOPBACK = ("127.0.0.1", "::1")


class Names:
    """Host names the tests define, and every name looked up."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {}
        self.lookups: list[str] = []

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        self.lookups.append(host)
        if host not in self.table:  # numeric forms only: no DNS query leaves the machine
            return REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.table[host]
        ]


def _loopback_only(address, *args, **kwargs):
    assert address[0] in LOOPBACK, f"a test tried to connect to {address!r}"
    return REAL_CREATE_CONNECTION(address, *args, **kwargs)


@pytest.fixture(autouse=True)
def names(monkeypatch: pytest.MonkeyPatch) -> Names:
    """Names resolve from a table (or as numbers), and every connection must go to loopback."""
    names = Names()
    monkeypatch.setattr(socket, "getaddrinfo", names.getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", _loopback_only)
    return names


# --- check_url --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/hook",
        "http://172.16.0.9/",
        "https://192.168.1.20/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://2130706433/",  # 127.0.0.1 written as one decimal number
        "http://0177.0.0.1/",  # octal
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://224.0.0.1/",  # multicast
        "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
        "http://[64:ff9b::a00:1]/",  # NAT64 around 10.0.0.1
    ],
)
def test_check_url_refuses_private_addresses(url: str) -> None:
    # Given an address on a private, loopback or otherwise non-public network
    # When it is checked Then it is refused as blocked
    with pytest.raises(OutboundBlocked):
        check_url(url)


def test_check_url_refuses_a_name_that_resolves_to_loopback(names: Names) -> None:
    # Given localhost resolving to loopback
    names.table["localhost"] = ["127.0.0.1"]
    # When it is checked Then it is refused; the message does not say what the name
    # resolves to (the address is kept on the exception for the operator's logs only)
    with pytest.raises(OutboundBlocked) as refused:
        check_url("http://localhost:8000/hook")
    assert str(refused.value) == (
        "This address points to a private network, which Pyq may not call."
    )
    assert (refused.value.host, refused.value.address, refused.value.transient) == (
        "localhost",
        "127.0.0.1",
        False,
    )


def test_check_url_refuses_a_name_when_any_address_is_private(names: Names) -> None:
    # Given a name with one public and one private address
    names.table["mixed.example"] = ["93.184.216.34", "10.0.0.7"]
    # When it is checked Then the private one is enough to refuse it
    with pytest.raises(OutboundBlocked) as refused:
        check_url("https://mixed.example/")
    assert refused.value.address == "10.0.0.7"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "Only http and https URLs can be called, not 'file'."),
        ("ftp://93.184.216.34/x", "Only http and https URLs can be called, not 'ftp'."),
        ("http:///hook", "'http:///hook' has no host name."),
        (
            "http://user:pw@93.184.216.34/",
            "A URL with a user name or password in it is not accepted.",
        ),
    ],
)
def test_check_url_refuses_urls_it_cannot_call(url: str, message: str) -> None:
    with pytest.raises(OutboundError) as refused:
        check_url(url)
    assert not isinstance(refused.value, OutboundBlocked)
    assert (str(refused.value), refused.value.transient) == (message, False)


def test_check_url_allows_public_addresses_without_connecting(names: Names) -> None:
    # Given a public literal and a name resolving to public addresses (the fixture fails
    # any connection that is not to loopback; check_url must not connect at all)
    names.table["public.example"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    # When they are checked Then nothing is raised
    check_url("http://93.184.216.34/hook")
    check_url("https://public.example:8443/hook?x=1")


def test_check_url_allows_private_addresses_when_told_to() -> None:
    check_url("http://127.0.0.1:9/", allow_private=True)


# --- post_json --------------------------------------------------------------------------------


def test_post_json_returns_the_receivers_answer(receiver: Receiver) -> None:
    # Given a receiver on loopback that answers 202 with a body
    receiver.answers.append((202, {"X-Seen": "yes"}, b'{"queued": true}'))
    # When a JSON body is posted to it
    response = post_json(
        f"{receiver.url}/hook?a=1",
        b'{"n": 1}',
        {"Content-Type": "application/json"},
        allow_private=True,
    )
    # Then the answer comes back and the receiver got the body, path and headers
    assert (response.status, response.headers["x-seen"], response.body_preview) == (
        202,
        "yes",
        b'{"queued": true}',
    )
    [request] = receiver.requests
    assert (request["path"], request["body"]) == ("/hook?a=1", b'{"n": 1}')
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Host"] == f"127.0.0.1:{receiver.port}"


def test_post_json_caps_the_body_it_reads(receiver: Receiver) -> None:
    receiver.answers.append((500, {}, b"x" * 200_000))
    response = post_json(receiver.url, b"{}", {}, allow_private=True)
    assert (response.status, len(response.body_preview), response.transient) == (
        500,
        64 * 1024,
        True,
    )


def test_post_json_connects_to_the_checked_address_with_the_name_as_host(
    receiver: Receiver, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a name that resolves to loopback once and to a private address afterwards
    # (DNS rebinding)
    names.table["hook.example"] = ["127.0.0.1"]

    def rebinding(host, *args):
        found = names.getaddrinfo(host, *args)
        names.table[host] = ["10.0.0.1"]
        return found

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    # When a request is posted to it
    response = post_json(f"http://hook.example:{receiver.port}/in", b"{}", {}, allow_private=True)
    # Then the name was resolved once and the socket opened to the checked address (the
    # fixture refuses a name or any other address), and the receiver saw the name as Host
    assert response.status == 200
    assert names.lookups == ["hook.example", "127.0.0.1"]
    assert receiver.requests[0]["headers"]["Host"] == f"hook.example:{receiver.port}"


def test_post_json_follows_a_307_and_checks_the_new_target(receiver: Receiver) -> None:
    receiver.answers.append((307, {"Location": "/second"}, b""))
    response = post_json(f"{receiver.url}/first", b'{"a":1}', {}, allow_private=True)
    assert response.status == 200
    assert [(r["path"], r["body"]) for r in receiver.requests] == [
        ("/first", b'{"a":1}'),
        ("/second", b'{"a":1}'),
    ]


def test_post_json_refuses_a_redirect_to_a_private_address(
    receiver: Receiver, names: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a receiver that stands in for a public server (its name resolves to loopback,
    # which is treated as public here) and redirects to a name on a private network
    names.table["public.example"] = ["127.0.0.1"]
    names.table["internal.example"] = ["10.0.0.5"]
    real = outbound.is_blocked_address
    monkeypatch.setattr(
        addresses, "is_blocked_address", lambda ip: str(ip) != "127.0.0.1" and real(ip)
    )
    receiver.answers.append((308, {"Location": "http://internal.example/admin"}, b""))
    # When a request follows the redirect Then it is refused before any connection to
    # the private address (the fixture would fail one)
    with pytest.raises(OutboundBlocked) as refused:
        post_json(f"http://public.example:{receiver.port}/hook", b"{}", {})
    assert str(refused.value) == (
        "This address points to a private network, which Pyq may not call."
    )
    assert "10.0.0.5" not in str(refused.value)
    assert len(receiver.requests) == 1


def test_post_json_stops_after_max_redirects(receiver: Receiver) -> None:
    receiver.answers.extend([(307, {"Location": "/again"}, b"")] * 3)
    with pytest.raises(OutboundError) as refused:
        post_json(receiver.url, b"{}", {}, allow_private=True, max_redirects=2)
    assert (str(refused.value), refused.value.transient) == (
        "127.0.0.1 redirected more than 2 times.",
        False,
    )
    assert len(receiver.requests) == 3


def test_post_json_returns_other_redirects_without_following_them(receiver: Receiver) -> None:
    receiver.answers.append((302, {"Location": "/elsewhere"}, b""))
    response = post_json(receiver.url, b"{}", {}, allow_private=True)
    assert (response.status, response.transient, len(receiver.requests)) == (302, False, 1)


def test_post_json_gives_up_on_a_slow_receiver_quickly(receiver: Receiver) -> None:
    # Given a receiver that takes 5 s to answer
    receiver.delay = 5
    began = time.monotonic()
    # When a request with a 0.3 s timeout is posted
    with pytest.raises(OutboundError) as failed:
        post_json(receiver.url, b"{}", {}, timeout=0.3, allow_private=True)
    # Then it fails as transient well before the receiver answers
    assert time.monotonic() - began < 2
    assert (str(failed.value), failed.value.transient) == (
        "127.0.0.1 did not answer within 0.3 s.",
        True,
    )


def test_post_json_reports_a_refused_connection_as_transient() -> None:
    # Given a loopback port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # When a request is posted there Then it fails as transient
    with pytest.raises(OutboundError) as failed:
        post_json(f"http://127.0.0.1:{port}/", b"{}", {}, allow_private=True)
    assert (str(failed.value), failed.value.transient) == (
        "Could not reach 127.0.0.1: Connection refused.",
        True,
    )


def test_post_json_refuses_loopback_by_default(receiver: Receiver) -> None:
    with pytest.raises(OutboundBlocked):
        post_json(receiver.url, b"{}", {})
    assert receiver.requests == []


class Dribbler:
    """A loopback server that accepts a request, sends a status line and then one header
    line every ``pause`` seconds, ``lines`` of them, as a slow or hostile receiver can."""

    def __init__(self, lines: int = 40, pause: float = 0.3) -> None:
        self.sent = 0
        self.lines = lines
        self.pause = pause
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                while self.sent < self.lines and not self.stop.wait(self.pause):
                    connection.sendall(f"X-Slow-{self.sent}: yes\r\n".encode())
                    self.sent += 1
                connection.sendall(b"Content-Length: 0\r\n\r\n")
            except OSError:  # the client hung up: what the deadline should make it do
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


def test_post_json_deadline_covers_the_headers_of_a_dribbling_receiver() -> None:
    # Given a receiver that sends a header line every 0.3 s, 40 of them (12 s in all),
    # each line well within a per-read timeout of 1 s
    dribbler = Dribbler(lines=40, pause=0.3)
    began = time.monotonic()
    try:
        # When a request with a 1 s deadline is posted to it
        with pytest.raises(OutboundError) as failed:
            post_json(
                f"http://127.0.0.1:{dribbler.port}/", b"{}", {}, timeout=1, allow_private=True
            )
        elapsed = time.monotonic() - began
        # Then it fails as a transient timeout long before the receiver is done: the
        # deadline is for the whole exchange, not for each line read (a generous bound)
        assert (str(failed.value), failed.value.transient) == (
            "127.0.0.1 did not answer within 1 s.",
            True,
        )
        assert dribbler.sent < dribbler.lines
        assert elapsed < 3
    finally:
        dribbler.close()


def test_post_json_deadline_covers_a_body_read_after_the_connection_closes(
    receiver: Receiver,
) -> None:
    # Given an HTTP/1.0 receiver (the connection closes after the answer, so http.client
    # hands the socket over to the answer) with a body in several reads
    receiver.answers.append((200, {}, b"y" * 100_000))
    # When a request is posted Then the body is read through the deadline reader
    response = post_json(receiver.url, b"{}", {}, timeout=5, allow_private=True)
    assert (response.status, len(response.body_preview)) == (200, 64 * 1024)
