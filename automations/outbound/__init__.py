"""The one client for requests to customer-configured URLs (webhooks, URL sources).

It refuses addresses on private networks (a customer's URL must not reach our own
services or a cloud metadata endpoint), follows only 307/308 redirects and checks each
target again, and connects to the address it checked: the host name is resolved once per
hop and the socket goes to that IP, with the name sent as Host header and TLS SNI, so a
DNS answer that changes between the check and the connection (rebinding) cannot reach a
private address. Pure Python: settings are passed in.

``addresses`` says which addresses may be called, ``connection`` holds a connection to
the checked address and to one deadline, ``client`` makes the request, ``download`` fetches a file.
"""

from automations.outbound.addresses import is_blocked_address
from automations.outbound.client import (
    MAX_BODY_BYTES,
    Response,
    check_url,
    is_transient_status,
    post_json,
)
from automations.outbound.download import Download, DownloadTooLarge, download
from automations.outbound.errors import BLOCKED_MESSAGE, OutboundBlocked, OutboundError

__all__ = [
    "BLOCKED_MESSAGE",
    "MAX_BODY_BYTES",
    "Download",
    "DownloadTooLarge",
    "OutboundBlocked",
    "OutboundError",
    "Response",
    "check_url",
    "download",
    "is_blocked_address",
    "is_transient_status",
    "post_json",
]
