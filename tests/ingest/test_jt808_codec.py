"""JT/T 808 codec: vectors built by hand from the standard.

Every literal frame's checksum is worked out in a comment (XOR of header and
body, unescaped) so a reader can check the vector without running the code.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from ingest.jt808 import ChecksumError, DecodeError, decode_frame, decode_hex, encode_frame
from ingest.jt808.binary import GMT8
from ingest.jt808.canonical import decode_payload
from ingest.jt808.location import ALARM_BITS, decode_location, encode_batch, encode_location
from ingest.jt808.messages import (
    decode_auth,
    decode_register,
    encode_auth,
    encode_register,
    encode_register_response,
    encode_response,
)
from ingest.jt808.splitter import FrameSplitter

# 2013 heartbeat 0x0002, phone 013912345678, serial 1, empty body.
# XOR: 00^02=02, ^00^00=02 (props), phone 01^39^12^34^56^78=30 -> 02^30=32,
# serial 00^01 -> 33.  Checksum 0x33.
HEARTBEAT_2013 = "7e 0002 0000 013912345678 0001 33 7e"
# 2019 heartbeat: props 0x4000 (version flag), version 01, phone BCD[10].
# XOR: 02 ^40=42 ^01(version)=43 ^30(phone, zeros change nothing)=73 ^01(serial)=72.
HEARTBEAT_2019 = "7e 0002 4000 01 00000000013912345678 0001 72 7e"
# 2013 location, body 28 bytes (props 0x001c), serial 1:
#   header XOR: 02^00^00^1c=1e, phone 30 -> 2e, serial 01 -> 2f
#   body XOR: alarm 01, status 03 -> 02; lat 02^26^57^1c=6f -> 6d;
#   lon 07^2c^e4^88=47 -> 2a; alt 00^0c -> 26; speed 01^a9=a8 -> 8e;
#   dir 00^5a -> d4; time 26^11^26^08^00^05=1c -> c8
#   checksum 2f ^ c8 = e7
LOCATION_2013 = (
    "7e 0200 001c 013912345678 0001"
    " 00000001 00000003 0226571c 072ce488 000c 01a9 005a 261126080005 e7 7e"
)
T0 = datetime(2026, 11, 26, 8, 0, 5, tzinfo=GMT8)


def raw(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_heartbeat_2013_vector() -> None:
    frame = decode_frame(raw(HEARTBEAT_2013))
    header = frame.header
    assert (header.msg_id, header.edition, header.serial) == (0x0002, 2013, 1)
    assert header.phone == "013912345678"
    assert header.device_id == "13912345678"
    assert frame.body == b""
    assert encode_frame(2, b"", phone="13912345678", serial=1) == raw(HEARTBEAT_2013)


def test_heartbeat_2019_vector_keeps_device_id() -> None:
    header = decode_frame(raw(HEARTBEAT_2019)).header
    assert (header.edition, header.protocol_version, header.version_flag) == (2019, 1, True)
    assert header.device_id == "13912345678"
    built = encode_frame(2, b"", phone="13912345678", serial=1, edition=2019)
    assert built == raw(HEARTBEAT_2019)


def test_escape_inside_serial() -> None:
    # serial 0x007e: XOR before serial is 32 (see HEARTBEAT_2013), ^00^7e = 4c.
    # On the wire the serial's 7e becomes 7d 02.
    frame = raw("7e 0002 0000 013912345678 00 7d02 4c 7e")
    assert decode_frame(frame).header.serial == 0x7E
    assert encode_frame(2, b"", phone="13912345678", serial=0x7E) == frame


@pytest.mark.parametrize(
    ("serial", "wire"),
    [
        # 32 ^ 00 ^ 4c = 7e -> checksum escaped as 7d 02
        (0x4C, "7e 0002 0000 013912345678 004c 7d02 7e"),
        # 32 ^ 00 ^ 4f = 7d -> checksum escaped as 7d 01
        (0x4F, "7e 0002 0000 013912345678 004f 7d01 7e"),
    ],
)
def test_escape_inside_checksum(serial: int, wire: str) -> None:
    assert encode_frame(2, b"", phone="13912345678", serial=serial) == raw(wire)
    assert decode_frame(raw(wire)).header.serial == serial


def test_location_2013_vector_to_contract_shape() -> None:
    out = decode_hex(LOCATION_2013)
    json.dumps(out)  # JSON-serialisable as the CLI prints it
    assert out["message"] == "location"
    assert out["fixes"] == [
        {
            "ts": "2026-11-26T08:00:05+08:00",
            "lat": 36.0671,
            "lon": 120.3826,
            "speed": 42.5,
            "heading": 90,
            "alt": 12,
            "ign": True,
            "seq": 1,
            "alarms": ["sos"],
            "extras": {"status": ["acc", "located"], "load": "empty", "located": True},
        }
    ]
    assert out["events"] == []


def test_decode_hex_accepts_separators_and_prefix() -> None:
    assert decode_hex("0x" + HEARTBEAT_2013.replace(" ", ":"))["message"] == "heartbeat"


def test_2019_flag_on_2013_length_header_is_read_as_2013() -> None:
    # Quirk: props 0x4000 but a 6-byte phone. XOR 33 (HEARTBEAT_2013) ^ 40 = 73.
    header = decode_frame(raw("7e 0002 4000 013912345678 0001 73 7e")).header
    assert (header.edition, header.version_flag, header.device_id) == (2013, True, "13912345678")


def test_2019_header_without_flag_is_read_as_2019() -> None:
    # HEARTBEAT_2019 without the flag: 72 ^ 40 = 32.
    header = decode_frame(raw("7e 0002 0000 01 00000000013912345678 0001 32 7e")).header
    assert (header.edition, header.version_flag, header.device_id) == (2019, False, "13912345678")


@pytest.mark.parametrize(
    ("phone", "device_id"),
    [("000000000123", "123"), ("000000000000", "0"), ("100000000000", "100000000000")],
)
def test_device_id_strips_leading_zeros(phone: str, device_id: str) -> None:
    header = decode_frame(encode_frame(2, b"", phone=phone, serial=0)).header
    assert header.phone == phone and header.device_id == device_id


def test_subpackage_header() -> None:
    frame = encode_frame(0x0200, b"\x01\x02", phone="1", serial=9, packet=(3, 2), edition=2019)
    header = decode_frame(frame).header
    assert (header.subpackage, header.packet_total, header.packet_index) == (True, 3, 2)
    assert decode_hex(frame.hex())["body"] == {"raw": "0102"}


def test_bad_checksum_keeps_header_and_offset() -> None:
    bad = raw(HEARTBEAT_2013.replace(" 33 ", " 34 "))
    with pytest.raises(ChecksumError) as info:
        decode_frame(bad)
    assert info.value.header is not None and info.value.header.serial == 1
    assert info.value.offset == 13
    assert "checksum 0x34 does not match computed 0x33 at byte offset 13" in str(info.value)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ("7e 0002 0000 0139123456", "must end with the 0x7e flag"),
        ("0002 0000 013912345678 0001 33 7e", "must start with the 0x7e flag"),
        ("7e 0002 00 02 7e", "frame too short"),
        # body length 1 but no body; XOR 33 ^ 01 = 32
        ("7e 0002 0001 013912345678 0001 32 7e", "body length 1 in the header"),
        ("7e 0002 0000 0139123456 7d03 0001 33 7e", "invalid escape 0x7d followed by 0x03"),
        ("7e 0002 0000 7e 013912345678 0001 33 7e", "unexpected 0x7e inside the frame"),
        ("", "empty input"),
        ("7e zz 7e", "not a hex string"),
    ],
)
def test_corrupted_and_truncated_frames(wire: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_hex(wire)


def test_invalid_escape_offset_points_into_the_wire_bytes() -> None:
    with pytest.raises(DecodeError) as info:
        decode_hex("7e 0002 0000 0139123456 7d03 0001 33 7e")
    assert info.value.offset == 10  # 7e(0) 0002(1-2) 0000(3-4) 0139123456(5-9) 7d(10)


def test_truncated_location_body_names_field_and_offset() -> None:
    body = encode_location(lat=1, lon=2, time=T0)[:20]  # cut after speed (bytes 18-19)
    with pytest.raises(DecodeError) as info:
        decode_hex(encode_frame(0x0200, body, phone="1", serial=1).hex())
    assert "location body: truncated direction: needs 2 bytes, 0 left" in str(info.value)
    assert info.value.offset == 1 + 12 + 20  # flag + 2013 header + body offset
    assert info.value.header is not None


@pytest.mark.parametrize("bit", range(32))
def test_every_alarm_bit(bit: int) -> None:
    name = ALARM_BITS[bit]
    assert name is not None
    body = encode_location(lat=1, lon=1, time=T0, alarms=[name])
    location = decode_location(body)
    assert location["alarm_flags"] == 1 << bit and location["alarms"] == [name]


def test_alarm_names_at_the_standard_positions() -> None:
    expected = {0: "sos", 1: "overspeed", 2: "fatigue", 7: "power_low", 8: "power_cut",
                13: "overspeed_warning", 14: "fatigue_warning", 18: "daily_driving_overtime",
                23: "route_deviation", 27: "illegal_ignition", 29: "collision", 30: "rollover",
                31: "illegal_door_open"}  # fmt: skip
    assert {bit: ALARM_BITS[bit] for bit in expected} == expected


def test_status_bits_sign_and_load() -> None:
    # acc, located, south, west, load bits 8-9 = 11 (full), oil cut, BeiDou
    status = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (0b11 << 8) | (1 << 10) | (1 << 19)
    rest = raw("0226571c 072ce488 000c 01a9 005a 261126080005")
    body = bytes(4) + status.to_bytes(4, "big") + rest
    location = decode_location(body)
    assert (location["lat"], location["lon"]) == (-36.0671, -120.3826)
    assert location["status"] == ["acc", "located", "oil_cut", "beidou"]
    assert location["load"] == "full"


# Every additional item of JT/T 808 table 27 Keywatch maps, plus an unknown one.
ITEMS = (
    "01 04 00003039"  # mileage 12345 -> 1234.5 km
    " 02 02 01f4"  # fuel 500 -> 50.0 L
    " 03 02 01a4"  # tachograph speed 420 -> 42.0 km/h
    " 04 02 0007"  # manual-alarm event id 7
    " 06 02 fff6"  # carriage temperature -10 degC (2019)
    " 11 05 01 0000002a"  # overspeed in circle area 42
    " 12 06 02 0000002b 01"  # left rectangle area 43
    " 13 07 0000002c 012c 00"  # route 44 driven 300 s: insufficient
    " 25 04 00000013"  # low beam, high beam, brake
    " 2a 02 0002"  # IO: sleep
    " 2b 04 0002 0001"  # AD1 = 2, AD0 = 1
    " 30 01 1f"  # signal strength 31
    " 31 01 0c"  # 12 satellites
    " e1 03 aabbcc"  # vendor item: kept raw
)


def test_every_additional_item() -> None:
    body = encode_location(lat=1, lon=1, time=T0) + raw(ITEMS)
    assert decode_location(body)["items"] == {
        "mileage_km": 1234.5,
        "fuel_l": 50.0,
        "tacho_speed_kmh": 42.0,
        "alarm_event_id": 7,
        "carriage_temp_c": -10,
        "overspeed": {"location_type": "circle", "area_id": 42},
        "area_in_out": {"location_type": "rectangle", "area_id": 43, "direction": "out"},
        "route_time": {"route_id": 44, "drive_time_s": 300, "result": "insufficient"},
        "vehicle_signals": ["low_beam", "high_beam", "brake"],
        "io_status": ["sleep"],
        "analog": {"ad0": 1, "ad1": 2},
        "signal_strength": 31,
        "satellites": 12,
        "raw_items": {"0xE1": "aabbcc"},
    }


def test_item_quirks_short_overspeed_bad_length_and_trailing_junk() -> None:
    base = encode_location(lat=1, lon=1, time=T0)
    items = decode_location(base + raw("11 01 00  01 02 0001  31 05 01"))["items"]
    assert items["overspeed"] == {"location_type": "none", "area_id": None}
    assert items["raw_items"] == {"0x01": "0001"}  # mileage must be 4 bytes
    assert items["raw_trailing"] == "310501"


def test_batch_with_backfill_seq_and_a_bad_item() -> None:
    good = [encode_location(lat=36 + i / 100, lon=120, time=T0, speed=i) for i in range(3)]
    bad = good[1][:22] + raw("991399999999")  # month 99: not a time
    body = encode_batch([good[0], bad, good[2]], backfill=True)
    out = decode_hex(encode_frame(0x0704, body, phone="13912345678", serial=77).hex())
    assert out["body"]["type"] == "backfill" and out["body"]["count"] == 3
    assert [fix["seq"] for fix in out["fixes"]] == [77000, 77002]
    assert [fix["lat"] for fix in out["fixes"]] == [36.0, 36.02]
    assert out["errors"] == ["batch item 1: invalid BCD time '991399999999'"]


def test_batch_declaring_more_items_than_it_holds() -> None:
    body = encode_batch([encode_location(lat=1, lon=1, time=T0)])
    with pytest.raises(DecodeError, match="batch declares 2 items but holds 1"):
        decode_hex(encode_frame(0x0704, b"\x00\x02" + body[2:], phone="1", serial=1).hex())


# 0x0702 2013: status 01, time, IC result 00, name len 04 "张三" (GBK d5c5 c8fd),
# certificate STRING[20], issuer len 04 "青岛" (GBK c7e0 b5ba), expiry BCD 20301231.
DRIVER_2013 = (
    "01 261126080005 00 04 d5c5c8fd"
    " 3337303230323139393030313031313233340000"  # "370202199001011234" + 2 NULs
    " 04 c7e0b5ba 20301231"
)
DRIVER_2019 = DRIVER_2013 + " 3337303230323139393030313031313233350000"  # ID ...1235


@pytest.mark.parametrize(
    ("edition", "body", "driver"),
    [(2013, DRIVER_2013, "370202199001011234"), (2019, DRIVER_2019, "370202199001011235")],
)
def test_driver_identity_layouts(edition: int, body: str, driver: str) -> None:
    frame = encode_frame(0x0702, raw(body), phone="13912345678", serial=5, edition=edition)
    out = decode_hex(frame.hex())
    assert out["body"]["name"] == "张三" and out["body"]["issuer"] == "青岛"
    assert out["body"]["expiry"] == "2030-12-31"
    assert out["events"] == [{"ts": "2026-11-26T08:00:05+08:00", "event": "driver_login",
                              "driver": driver}]  # fmt: skip


def test_driver_logout_and_unreadable_card() -> None:
    logout = decode_hex(encode_frame(0x0702, raw("02 261126180000"), phone="1", serial=1).hex())
    assert logout["events"] == [{"ts": "2026-11-26T18:00:00+08:00", "event": "driver_logout"}]
    failed = decode_hex(encode_frame(0x0702, raw("01 261126080005 02"), phone="1", serial=1).hex())
    assert failed["body"]["ic_result"] == "card_locked"
    assert failed["events"] == [{"ts": "2026-11-26T08:00:05+08:00", "event": "driver_login"}]


@pytest.mark.parametrize(("edition", "size"), [(2013, 37), (2019, 76)])
def test_register_layouts(edition: int, size: int) -> None:
    fields: dict[str, Any] = {"province": 37, "city": 202, "manufacturer": "KW", "model": "KW-808",
              "terminal_id": "T0001", "plate_color": 2, "plate": "鲁B12345"}  # fmt: skip
    body = encode_register(edition=edition, **fields)
    assert len(body) == size + len("鲁B12345".encode("gbk"))
    assert decode_register(body, edition) == fields


def test_auth_layouts() -> None:
    assert encode_auth("abc", edition=2013) == b"abc"
    body = encode_auth("abc", edition=2019, imei="860000000000001", software_version="1.2")
    assert body[:4] == b"\x03abc" and len(body) == 1 + 3 + 15 + 20
    assert decode_auth(body, 2019) == {
        "code": "abc", "imei": "860000000000001", "software_version": "1.2"
    }  # fmt: skip


def test_platform_reply_encoders() -> None:
    # 0x8001 body: reply serial 0x0001, reply id 0x0200, result 0
    assert encode_response(1, 0x0200, 0) == raw("0001 0200 00")
    # 0x8100 body: reply serial 0x0001, result 0, auth code "kw1"
    assert encode_register_response(1, 0, "kw1") == raw("0001 00 6b7731")
    assert encode_register_response(1, 4, "ignored") == raw("0001 04")
    # the whole 0x8001 frame, 2013, platform serial 0:
    # XOR: 80^01=81, props 00^05=05 -> 84, phone 30 -> b4, serial 00 00 -> b4,
    #      body 00^01^02^00^00=03 -> b7
    frame = encode_frame(0x8001, encode_response(1, 0x0200, 0), phone="13912345678", serial=0)
    assert frame == raw("7e 8001 0005 013912345678 0000 0001 0200 00 b7 7e")
    assert decode_hex(frame.hex())["body"] == {"reply_serial": 1, "reply_id": "0x0200", "result": 0}


def test_terminal_general_response_and_unknown_message() -> None:
    terminal = encode_frame(0x0001, encode_response(3, 0x8103, 0), phone="1", serial=2)
    assert decode_hex(terminal.hex())["body"]["reply_id"] == "0x8103"
    unknown = decode_hex(encode_frame(0x0900, b"\x01\x02", phone="1", serial=2).hex())
    assert (unknown["message"], unknown["body"]) == ("unknown", {"raw": "0102"})


def test_decode_payload_mixes_good_bad_and_garbage() -> None:
    bad = raw(HEARTBEAT_2013.replace(" 33 ", " 34 "))
    data = b"\x00junk" + raw(LOCATION_2013) + bad + raw(HEARTBEAT_2019) + b"\x7e\x00\x02"
    out = decode_payload(data)
    errors = [d.error for d in out if d.error]
    assert len([d for d in out if d.frame]) == 2
    assert any("garbage" in e for e in errors) and any("checksum" in e for e in errors)
    assert errors[-1] == "incomplete frame at the end"
    assert [d.records.fixes[0]["seq"] for d in out if d.records.fixes] == [1]


def test_splitter_byte_by_byte_and_concatenated() -> None:
    frames = [raw(HEARTBEAT_2013), raw(LOCATION_2013), raw(HEARTBEAT_2019)]
    stream = b"".join(frames)
    splitter = FrameSplitter()
    got = [f for byte in stream for f in splitter.feed(bytes([byte])).frames]
    assert got == frames and splitter.buffered == 0
    assert FrameSplitter().feed(stream).frames == frames


def test_splitter_skips_and_reports_garbage() -> None:
    frame = raw(HEARTBEAT_2013)
    split = FrameSplitter().feed(b"\x01\x02" + frame + b"\x7e\x7e" + frame + b"abc")
    assert split.frames == [frame, frame]
    # two stray flags between the frames' own end and start flags
    assert split.discarded == 2 + 2 + 3 and len(split.errors) == 4


def test_splitter_resyncs_when_a_closing_flag_was_an_opening_one() -> None:
    # Joined mid-frame: "<tail> 7e <junk> 7e <frame...>": the 7e after junk is
    # really the frame's opening flag, not the end of a frame.
    frame = raw(HEARTBEAT_2013)
    split = FrameSplitter().feed(b"\x7e\x01\x02\x03" + frame)
    assert split.frames == [frame] and split.discarded == 4


def test_splitter_bounds_its_buffer() -> None:
    splitter = FrameSplitter(max_frame=64)
    split = splitter.feed(b"\x7e" + bytes(100))
    assert split.frames == [] and split.discarded == 101 and splitter.buffered == 0
    split = splitter.feed(b"\x7e" + bytes(100) + b"\x7e" + raw(HEARTBEAT_2013))
    assert split.frames == [raw(HEARTBEAT_2013)]
    assert "longer than 64" in split.errors[0]
