"""JT/T 808 (2013 and 2019) for Keywatch: codec, canonical mapping, TCP gateway.

The lead's entry points are re-exported here; see each module for the why.
"""

from ingest.jt808.binary import ChecksumError, DecodeError
from ingest.jt808.canonical import (
    Decoded,
    Records,
    decode_hex,
    decode_payload,
    decode_raw,
    driver_event,
    frame_records,
    location_fix,
)
from ingest.jt808.codec import Frame, Header, decode_frame, encode_frame
from ingest.jt808.gateway import GatewayStats, Jt808Gateway, RegisterRefused, TerminalDirectory
from ingest.jt808.splitter import FrameSplitter, Split

__all__ = [
    "ChecksumError",
    "DecodeError",
    "Decoded",
    "Frame",
    "FrameSplitter",
    "GatewayStats",
    "Jt808Gateway",
    "RegisterRefused",
    "TerminalDirectory",
    "Header",
    "Records",
    "Split",
    "decode_frame",
    "decode_hex",
    "decode_payload",
    "decode_raw",
    "driver_event",
    "encode_frame",
    "frame_records",
    "location_fix",
]
