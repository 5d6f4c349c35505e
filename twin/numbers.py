"""Reading whole numbers from text that users and clients send.

``str.isdigit`` is true for superscripts and other digit characters that
``int`` refuses (``'²'.isdigit()`` but ``int('²')`` raises), so a check with
it lets a bad request through as a crash. These helpers accept ASCII digits
only.
"""

from __future__ import annotations

__all__ = ["is_whole_number"]


def is_whole_number(text: str | bytes) -> bool:
    """Whether ``text`` is one or more ASCII digits (no sign, no spaces)."""
    return text.isascii() and text.isdigit()
