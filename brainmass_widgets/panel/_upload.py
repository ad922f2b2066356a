"""Uploads a served page refuses before sending them.

A chosen file travels to the server base64-encoded (4 bytes for every 3) in one websocket
message, and the server closes the websocket of a message over its limit (``--max-message-mb``):
the page would lose its session without a word. :class:`UploadBox` holds a ``FileInput`` and, in
the page, looks at the size of every file chosen (or dropped) on it before the input reads it;
a file too large for one message is taken off the input, so nothing is read or sent, and the
explorer shows a notice naming the file's size and the largest the server takes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import panel as pn
import param
from panel.custom import Child, ReactiveHTML

__all__ = ["UploadBox", "set_message_limit", "upload_limit"]

_ENVELOPE = 2**16
"""Bytes of a message allowed for what travels beside the file: its name, its type, the patch."""

_MESSAGE_MB: int | None = None


def set_message_limit(mb: int | None) -> None:
    """Set the largest websocket message the server accepts, in MiB (``--max-message-mb``), from
    which :func:`upload_limit` follows; ``None`` (a library user, or a server whose limit is not
    known): no upload is checked in the page.

    Raises
    ------
    ValueError
        When ``mb`` is not ``None`` or an integer >= 1.
    """
    global _MESSAGE_MB
    if mb is not None and (isinstance(mb, bool) or not isinstance(mb, int) or mb < 1):
        raise ValueError(f"the message limit must be None or at least 1 MiB; got {mb!r}")
    _MESSAGE_MB = mb


def upload_limit() -> int | None:
    """The largest upload, in bytes, that fits one websocket message once base64-encoded, with
    64 KiB to spare for its name and the message around it (``None`` when no limit is set)."""
    if _MESSAGE_MB is None:
        return None
    return (_MESSAGE_MB * 2**20 - _ENVELOPE) * 3 // 4


_CHECK = """
box.addEventListener("input", (event) => {
  const input = event.composedPath()[0]
  if (data.limit == null || !(input instanceof HTMLInputElement) || input.type !== "file"
      || input.files == null) {
    return
  }
  const files = Array.from(input.files)
  const size = files.reduce((total, file) => total + file.size, 0)
  if (size > data.limit) {
    input.value = ""
    data.refused = JSON.stringify({name: files.map((file) => file.name).join(", "), size, at: Date.now()})
  }
}, true)
"""


class UploadBox(ReactiveHTML):
    """A ``FileInput`` whose files are checked in the page against :func:`upload_limit` before
    they are read: a file too large is taken off the input (the input then reads no file) and
    ``notify`` gets a message naming its size and the limit.

    The check listens, in the capturing phase, for the ``input`` event a file input fires before
    its ``change``, on which the input reads the files it holds.

    Parameters
    ----------
    upload : panel.widgets.FileInput
        The input; its uploads reach its own watchers as before.
    notify : callable
        Called with the message of a refused file (the explorer's notice).
    **params
        Further parameters of the box (its ``sizing_mode`` defaults to ``"stretch_width"``).
    """

    upload = Child(doc="The file input held.")
    limit = param.Integer(default=None, allow_None=True, doc="""
        The largest upload in bytes, checked in the page (``None``: none is checked).""")
    refused = param.String(default="", doc="""
        Set by the page on a refused file: JSON with its ``name`` and ``size``.""")

    _template = '<div id="box" class="bmw-upload">${upload}</div>'
    _scripts = {"render": _CHECK}

    def __init__(self, upload: pn.widgets.FileInput, notify: Callable[[str], None], **params: Any):
        params.setdefault("sizing_mode", "stretch_width")
        super().__init__(upload=upload, limit=upload_limit(), **params)
        self._notify = notify
        self.param.watch(self._on_refused, "refused")

    def _on_refused(self, event: param.parameterized.Event) -> None:
        try:
            refused = json.loads(event.new)
            name, size = refused["name"], refused["size"]
        except (ValueError, TypeError, KeyError):
            return
        if not isinstance(name, str) or isinstance(size, bool) or not isinstance(size, int | float) \
                or not size >= 0 or self.limit is None or _MESSAGE_MB is None:
            return
        limit = math.floor(self.limit / 2**20 * 10) / 10
        self._notify(f"{name[:200]} is {size / 2**20:,.1f} MiB; this server takes files of at most "
                     f"{limit:,.1f} MiB (--max-message-mb {_MESSAGE_MB}): it was not sent")
