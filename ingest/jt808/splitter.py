"""Streaming frame splitter: TCP chunks in, whole 0x7e-delimited frames out.

TCP has no message boundaries: one read may hold half a frame, three frames,
or line noise from a terminal that rebooted mid-frame. The splitter keeps a
bounded buffer, skips and *reports* garbage (so it can be counted, never
silently lost), and re-synchronises: a 0x7e that turns out to start the next
frame rather than end a broken one is kept as a start flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.jt808.binary import DecodeError
from ingest.jt808.codec import FLAG, checksum, unescape

#: Largest legal frame is 2 flags + (21 header + 1023 body + 1 checksum) * 2
#: when every byte is escaped; anything longer is garbage.
MAX_FRAME = 2 + 2 * (21 + 0x3FF + 1)


@dataclass(slots=True)
class Split:
    """What one :meth:`FrameSplitter.feed` produced."""

    frames: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    discarded: int = 0

    def skip(self, count: int, reason: str) -> None:
        self.discarded += count
        self.errors.append(f"skipped {count} bytes: {reason}")


class FrameSplitter:
    """Feed arbitrary byte chunks; get whole frames (flags included) out."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> Split:
        buf = self._buf
        buf += data
        out = Split()
        pos = 0
        while pos < len(buf):
            start = buf.find(FLAG, pos)
            if start < 0:
                out.skip(len(buf) - pos, "no 0x7e start flag")
                pos = len(buf)
                break
            if start > pos:
                out.skip(start - pos, "garbage before a 0x7e start flag")
            end = buf.find(FLAG, start + 1)
            if end < 0:
                pos = start
                if len(buf) - start > self.max_frame:
                    out.skip(len(buf) - start, f"frame longer than {self.max_frame} bytes")
                    pos = len(buf)
                break
            pos = self._take(buf, start, end, out)
        del buf[:pos]
        return out

    def _take(self, buf: bytearray, start: int, end: int, out: Split) -> int:
        """Handle the candidate ``buf[start:end+1]``; return the next position."""
        if end == start + 1:
            # "7e 7e": the first flag ended a frame whose start we never saw.
            out.skip(1, "lone 0x7e flag")
            return end
        if end + 1 - start > self.max_frame:
            out.skip(end - start, f"frame longer than {self.max_frame} bytes")
            return end
        candidate = bytes(buf[start : end + 1])
        followed_by_data = end + 1 < len(buf) and buf[end + 1] != FLAG
        if followed_by_data and not _plausible(candidate):
            # The closing 0x7e is really the next frame's opening flag.
            out.skip(end - start, "bytes between flags that are not a frame")
            return end
        out.frames.append(candidate)
        return end + 1


def _plausible(candidate: bytes) -> bool:
    """Cheap test: do the escapes and the checksum hold?"""
    try:
        content = unescape(candidate[1:-1])
    except DecodeError:
        return False
    return len(content) >= 13 and checksum(content[:-1]) == content[-1]
