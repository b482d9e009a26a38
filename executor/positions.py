"""Seek arithmetic shared by the file objects that serve reads themselves (the sandbox worker's
proxies, the ranged remote reader). Pure."""

from __future__ import annotations

import io


def seek_target(current: int, size: int, offset: int, whence: int, where: str = "") -> int:
    """The position `seek(offset, whence)` moves to from `current` in a file of `size` bytes."""
    if whence == io.SEEK_SET:
        pos = offset
    elif whence == io.SEEK_CUR:
        pos = current + offset
    elif whence == io.SEEK_END:
        pos = size + offset
    else:
        raise ValueError(f"invalid whence {whence}")
    if pos < 0:
        raise OSError(f"negative seek position {pos}{where}")
    return pos
