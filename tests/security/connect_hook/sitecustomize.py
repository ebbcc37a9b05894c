"""Imported at start by every Python process whose PYTHONPATH has this folder (the worker of
tests/security/test_private_by_default.py): records each outbound socket connection and
name lookup, as a JSON line in the file PYQ_TEST_CONNECT_LOG, through an audit hook
(inherited by the worker's forked children)."""

import json
import os
import sys

_LOG = os.environ.get("PYQ_TEST_CONNECT_LOG")


def _record(event: str, args: tuple) -> None:
    if event == "socket.connect":
        sock, address = args
        entry = {"event": "connect", "family": int(sock.family), "address": _plain(address)}
    elif event == "socket.getaddrinfo":
        entry = {"event": "lookup", "address": [_plain(args[0]), _plain(args[1])]}
    elif event in ("socket.gethostbyname", "socket.gethostbyaddr"):
        entry = {"event": "lookup", "address": [_plain(args[0]), None]}
    else:
        return
    entry["pid"] = os.getpid()
    with open(_LOG, "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, (str, int)) else str(value)


if _LOG:
    sys.addaudithook(_record)
