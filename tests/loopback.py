"""Servers on 127.0.0.1 that tests send to: an HTTP receiver (webhooks, the outbound client)
and an SMTP listener (the email step). Their fixtures, `receiver` and `smtp`, are in
tests/conftest.py; the classes are here for type annotations."""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST or GET (its path, headers and body) and
    answers from `answers`, one (status, headers, body) per request, then `status` with "ok".
    While `delay` is set, each answer waits that long or until `release` is set."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.status = 200
        self.delay = 0.0
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                if receiver.delay:
                    receiver.release.wait(receiver.delay)
                status, headers, body = (
                    receiver.answers.pop(0) if receiver.answers else (receiver.status, {}, b"ok")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # a file Pyq fetches from a URL (the webhook trigger's "url")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, *statuses: int, body: bytes = b"ok") -> None:
        """Answer the next requests with these statuses, in order (then `status`)."""
        self.answers.extend((status, {}, body) for status in statuses)

    def json(self) -> list[Any]:
        """The bodies received so far, read as JSON."""
        return [json.loads(request["body"]) for request in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class SmtpListener:
    """A minimal SMTP server on 127.0.0.1 that records messages and answers as told."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_answers: dict[str, str] = {}
        self.data_answer = "250 2.0.0 queued"
        listener = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 localhost test SMTP")
                sender, recipients = "", []
                while line := self.rfile.readline():
                    command = line.decode().strip()
                    verb = command[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.wfile.write(b"250-localhost\r\n250 8BITMIME\r\n")
                    elif verb == "MAIL":
                        sender, recipients = command[10:].strip("<> "), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        address = command[8:].strip("<> ")
                        answer = listener.rcpt_answers.get(address, "250 OK")
                        if answer.startswith("250"):
                            recipients.append(address)
                        self.reply(answer)
                    elif verb == "DATA":
                        self.reply("354 go ahead")
                        data = b""
                        while (chunk := self.rfile.readline()) != b".\r\n":
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        if listener.data_answer.startswith("250"):
                            listener.messages.append((sender, recipients, data))
                        self.reply(listener.data_answer)
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:  # RSET, NOOP
                        self.reply("250 OK")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
