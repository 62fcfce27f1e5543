"""Keeping credentials out of what seqlab records and prints: a tracking URI such as
``http://user:password@host`` is shown, logged and stored as ``http://user:***@host``."""

import re

_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^/@:\s]*):(?P<password>[^/@\s]+)@")


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it replaced by ***."""
    return _CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)
