"""Property-based fuzzing of the JT/T 808 decoder, splitter and encoders.

The decoder faces the open internet: whatever arrives, it may only raise
DecodeError (which the gateway and CLI handle), and it must do so quickly.
Frames with a *recomputed* checksum reach the body decoders, where most
parsing bugs live.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.jt808 import DecodeError, decode_hex
from ingest.jt808.binary import GMT8
from ingest.jt808.canonical import decode_payload, decode_raw
from ingest.jt808.codec import encode_frame
from ingest.jt808.location import ALARM_BITS, decode_location, encode_location
from ingest.jt808.splitter import FrameSplitter

FUZZ = settings(
    max_examples=300,
    deadline=timedelta(milliseconds=250),
    suppress_health_check=[HealthCheck.too_slow],
)
KNOWN_IDS = [0x0001, 0x0002, 0x0003, 0x0100, 0x0102, 0x0200, 0x0702, 0x0704, 0x8001, 0x8100]


def decodes_or_refuses(raw: bytes) -> None:
    """The only acceptable failure is DecodeError; success must be JSON."""
    try:
        out = decode_raw(raw).to_dict()
    except DecodeError as exc:
        assert str(exc)
        return
    json.dumps(out)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    decodes_or_refuses(data)
    decodes_or_refuses(b"\x7e" + data.replace(b"\x7e", b"") + b"\x7e")


@FUZZ
@given(st.binary(max_size=300))
def test_random_payloads_through_the_splitter(data: bytes) -> None:
    for decoded in decode_payload(data):
        assert decoded.error or decoded.frame is not None


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    """Frames with a correct checksum and an arbitrary body for a known id."""
    msg_id = draw(st.sampled_from(KNOWN_IDS))
    body = draw(st.binary(max_size=120))
    if msg_id in (0x0200, 0x0704) and draw(st.booleans()):
        body = location_body(draw) + body  # a plausible start, then junk items
    return encode_frame(
        msg_id,
        body,
        phone=draw(st.from_regex(r"[0-9]{1,12}", fullmatch=True)),
        serial=draw(st.integers(0, 0xFFFF)),
        edition=draw(st.sampled_from([2013, 2019])),
        version_flag=draw(st.sampled_from([None, True, False])),
    )


def location_body(draw: st.DrawFn) -> bytes:
    return encode_location(
        lat=draw(st.floats(-90, 90)),
        lon=draw(st.floats(-180, 180)),
        time=datetime(2026, 1, 1, tzinfo=GMT8) + timedelta(seconds=draw(st.integers(0, 10**8))),
        speed=draw(st.floats(0, 6000)),
        heading=draw(st.integers(0, 359)),
        alarms=draw(st.lists(st.sampled_from([a for a in ALARM_BITS if a]))),
    )


@FUZZ
@given(valid_frames())
def test_valid_frames_with_random_bodies(frame: bytes) -> None:
    decodes_or_refuses(frame)


@FUZZ
@given(valid_frames(), st.data())
def test_mutated_valid_frames(frame: bytes, data: st.DataObject) -> None:
    mutated = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        if kind == "flip" and mutated:
            mutated[at] ^= data.draw(st.integers(1, 255))
        elif kind == "insert":
            mutated.insert(at, data.draw(st.integers(0, 255)))
        elif kind == "delete" and mutated:
            del mutated[at]
        else:
            del mutated[at:]
    decodes_or_refuses(bytes(mutated))
    with contextlib.suppress(DecodeError):
        decode_hex(bytes(mutated).hex())


@FUZZ
@given(st.lists(valid_frames(), min_size=1, max_size=5), st.data())
def test_splitter_recovers_frames_from_any_chunking(
    frames: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    splitter = FrameSplitter()
    got: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += splitter.feed(stream[start:end]).frames
    assert got == frames and splitter.buffered == 0


@FUZZ
@given(st.lists(st.binary(max_size=600), max_size=8))
def test_splitter_buffer_stays_bounded(chunks: list[bytes]) -> None:
    splitter = FrameSplitter(max_frame=256)
    for chunk in chunks:
        splitter.feed(chunk)
        assert splitter.buffered <= 256 + 1


@settings(max_examples=200, deadline=timedelta(milliseconds=250))
@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(0, 6553.5),
    st.lists(st.sampled_from([a for a in ALARM_BITS if a]), unique=True),
)
def test_location_round_trip(lat: float, lon: float, speed: float, alarms: list[str]) -> None:
    ts = datetime(2026, 11, 26, 8, 0, 5, tzinfo=GMT8)
    out = decode_location(encode_location(lat=lat, lon=lon, time=ts, speed=speed, alarms=alarms))
    assert abs(out["lat"] - lat) <= 5e-7 and abs(out["lon"] - lon) <= 5e-7
    assert abs(out["speed"] - speed) <= 0.05 + 1e-9  # rounding to 0.1 km/h
    assert sorted(out["alarms"]) == sorted(alarms)
    assert out["time"] == ts.isoformat()
