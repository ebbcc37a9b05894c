"""Celery's filesystem broker (the embedded default), with messages that appear whole.

kombu's filesystem transport creates a message's file and then writes it; a worker polling
the folder can take the file in between, read nothing, and stop with "Unrecoverable error:
JSONDecodeError" (kombu issue #1551), the message lost. Here a message is written under a
name the consumers do not look at and then renamed into place, which is atomic on one
filesystem: a consumer sees the whole message or no file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: written as NAME.part, then renamed to NAME."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"  # consumers take only "*.{queue}.msg"
        try:
            with open(partial, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
