"""Reading an .eml file, and the bounds of a mail: attachments, nesting, unpacked bytes."""

from __future__ import annotations

import email
import email.message
import os
from email import policy

from automations.engine.filetypes.messages import MSG_EMAIL_DAMAGED, MSG_FILE_UNREADABLE
from automations.engine.filetypes.model import DEFAULT_LIMITS, MB, FileRejected, InputLimits

# Nested multiparts beyond this are refused: Python's mail parser recurses per level.
_MAX_MULTIPART_DEPTH = 30


def _mail_limit_message(kind: str, limits: InputLimits) -> str:
    if kind == "count":
        return (
            f"This e-mail has more than {limits.mail_attachments} attachments (forwarded "
            "messages and their attachments count too). Send them in several e-mails."
        )
    if kind == "depth":
        return (
            f"This e-mail holds messages forwarded inside each other more than "
            f"{limits.mail_depth} levels deep. Save the innermost message and upload it instead."
        )
    return (
        f"This e-mail's attachments add up to more than {limits.mail_bytes // MB} MB when "
        "unpacked. Send them in several e-mails."
    )


def read_email(path: str | os.PathLike[str]) -> email.message.EmailMessage:
    """Parse an .eml file; :class:`FileRejected` when it cannot be parsed."""
    try:
        with open(path, "rb") as fh:
            msg = email.message_from_binary_file(fh, policy=policy.default)
    except OSError as exc:
        raise FileRejected(MSG_FILE_UNREADABLE) from exc
    except (ValueError, RecursionError, LookupError, TypeError) as exc:
        raise FileRejected(MSG_EMAIL_DAMAGED) from exc
    if not isinstance(msg, email.message.EmailMessage):
        raise FileRejected(MSG_EMAIL_DAMAGED)
    return msg


def check_email(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse a mail with too many attachments, too deeply nested messages, or attachments
    that unpack to too much (see :func:`check_email_message`)."""
    check_email_message(read_email(path), limits)


def check_email_message(msg: email.message.Message, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Walk a parsed mail without recursion and count what it would turn into: every
    attachment becomes a document, a forwarded message (message/rfc822) too, and its own
    attachments again. Raises :class:`FileRejected` past ``limits``."""
    count = 0
    total = 0
    # (part, messages it is inside of, multiparts it is inside of, is a message's root)
    todo: list[tuple[email.message.Message, int, int, bool]] = [(msg, 0, 0, True)]
    while todo:
        part, depth, nesting, root = todo.pop()
        if nesting > _MAX_MULTIPART_DEPTH:
            raise FileRejected(MSG_EMAIL_DAMAGED)
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else payload
            if isinstance(inner, email.message.Message):
                if depth + 1 > limits.mail_depth:
                    raise FileRejected(_mail_limit_message("depth", limits))
                size = len(inner.as_bytes(policy=policy.default))
                todo.append((inner, depth + 1, nesting + 1, True))
            else:
                size = len(part.get_payload(decode=True) or b"")
        elif part.is_multipart():
            payload = part.get_payload()
            children = payload if isinstance(payload, list) else []
            todo.extend(
                (child, depth, nesting + 1, False)
                for child in children
                if isinstance(child, email.message.Message)
            )
            continue
        elif root or not (part.get_filename() or part.get_content_disposition() == "attachment"):
            continue  # a body: not an attachment
        else:
            size = len(part.get_payload(decode=True) or b"")
        count += 1
        total += size
        if count > limits.mail_attachments:
            raise FileRejected(_mail_limit_message("count", limits))
        if total > limits.mail_bytes:
            raise FileRejected(_mail_limit_message("bytes", limits))
