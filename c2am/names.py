"""File names that are not UTF-8.

On Linux a file name is bytes; Python gives a name that is not valid UTF-8 as a str with "surrogate escapes"
(each undecodable byte 0xNN becomes the lone surrogate U+DCNN). Such a str cannot be written to Parquet or to a
strict UTF-8 stream (UnicodeEncodeError) and crashes OpenCV's imwrite/imread (segfault), so per-image outputs and
tables use a safe form of the name instead: every undecodable byte written as %NN (caf\\xe9.jpg -> caf%E9.jpg),
everything else kept. `readable` is the form for messages (caf\\xe9.jpg, backslash-escaped like Python's repr).
"""

from __future__ import annotations

import hashlib
import os

_LOW, _HIGH = 0xDC80, 0xDCFF  # the surrogate escapes of bytes 0x80..0xFF


def is_utf8(name: str) -> bool:
    """Whether `name` is valid UTF-8 text (no surrogate escapes of undecodable bytes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def escaped(name: str) -> str:
    """`name` with each undecodable byte (surrogate escape U+DCNN) written as %NN; UTF-8 names unchanged."""
    if is_utf8(name):
        return name
    return "".join(f"%{ord(c) - 0xDC00:02X}" if _LOW <= ord(c) <= _HIGH else
                   c if not 0xD800 <= ord(c) <= 0xDFFF else f"%u{ord(c):04X}" for c in name)


def readable(text) -> str:
    """A name (or a message holding one) for messages and logs: undecodable bytes backslash-escaped
    (caf\\xe9.jpg), so it prints and serialises anywhere; UTF-8 text unchanged."""
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no file name decodes to
        return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def safe_names(names: list[str]) -> dict[str, str]:
    """The safe form of every name that is not UTF-8 (name -> escaped name), unique among `names`: where the
    escaped form is already the name of another entry (a file really called caf%E9.jpg), a short hash of the
    original bytes is added before the extension (caf%E9~1a2b3c4d.jpg)."""
    taken = {n for n in names if is_utf8(n)}
    out = {}
    for name in names:
        if is_utf8(name):
            continue
        safe = escaped(name)
        if safe in taken:
            stem, dot, ext = safe.rpartition(".")
            tag = hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
            safe = f"{stem}~{tag}.{ext}" if dot and "/" not in ext else f"{safe}~{tag}"
        taken.add(safe)
        out[name] = safe
    return out
