"""What a refused or failed outbound request raises, and what a refusal says."""

from __future__ import annotations

# Said for any refused address: never which address a name resolves to, as that would let
# a tenant map the internal network through error messages.
BLOCKED_MESSAGE = "This address points to a private network, which Pyq may not call."


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
