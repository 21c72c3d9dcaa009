"""Rows sent to PostgreSQL by COPY, generated as the server reads them.

`Lines` turns an iterator of text lines into the file object `cursor.copy_expert` reads, pulling the lines a few
thousand at a time, so a year of a province (millions of lines) never sits in memory at once. `text(value)` writes
one value in COPY's text format: None as \\N, booleans as t/f, lists and dicts as JSON, the rest as `str`, with the
backslash, tab and line breaks escaped as COPY expects.
"""

import io
import itertools
import json

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escaped(text):
    """`text` as one field of COPY's text format."""
    return text.translate(_ESCAPES) if ("\\" in text or "\t" in text or "\n" in text or "\r" in text) else text


def text(value):
    """One value as a field of COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list | dict):
        return escaped(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    return escaped(str(value))


class Lines(io.RawIOBase):
    """The COPY input, generated as PostgreSQL reads it."""

    def __init__(self, lines):
        self.lines, self.pending = iter(lines), b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while len(self.pending) < len(buffer):
            chunk = "".join(itertools.islice(self.lines, 2000))
            if not chunk:
                break
            self.pending += chunk.encode()
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


def copy_into(cursor, table, columns, lines):
    """COPY the text lines (tab-separated fields, each ending with a line break) into `table` (`columns`)."""
    # The buffer size by position: Django's debug cursor passes no keywords on.
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", Lines(lines), 1 << 20)
