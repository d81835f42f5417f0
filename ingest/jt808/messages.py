"""Body codecs for the terminal and platform messages Keywatch speaks.

Decoders return JSON-ready dicts (the CLI prints them as they are); encoders
build bodies so tests, the simulator and the gateway share one implementation
of each layout. Where 2013 and 2019 differ the header's edition chooses, and
where terminals mix them (a 2013 header with a 2019 driver body) the body's
length decides, as Traccar does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ingest.jt808.binary import DecodeError, Reader, gbk_bytes, read_date, read_time, time_bcd
from ingest.jt808.codec import Frame, Header
from ingest.jt808.location import decode_batch, decode_location

TERMINAL_RESPONSE = 0x0001
HEARTBEAT = 0x0002
LOGOUT = 0x0003
REGISTER = 0x0100
AUTH = 0x0102
LOCATION = 0x0200
DRIVER = 0x0702
BATCH = 0x0704
PLATFORM_RESPONSE = 0x8001
REGISTER_RESPONSE = 0x8100

MESSAGE_NAMES = {
    TERMINAL_RESPONSE: "terminal_response",
    HEARTBEAT: "heartbeat",
    LOGOUT: "logout",
    REGISTER: "register",
    AUTH: "auth",
    LOCATION: "location",
    DRIVER: "driver_identity",
    BATCH: "batch",
    PLATFORM_RESPONSE: "platform_response",
    REGISTER_RESPONSE: "register_response",
}

#: 0x8001 / 0x0001 result codes.
RESULT_OK, RESULT_FAILURE, RESULT_BAD_MESSAGE, RESULT_UNSUPPORTED, RESULT_ALARM_ACK = range(5)
#: 0x8100 result codes.
REGISTER_RESULTS = (
    "ok",
    "vehicle_already_registered",
    "vehicle_not_in_database",
    "terminal_already_registered",
    "terminal_not_in_database",
)
IC_RESULTS = ("ok", "key_auth_failed", "card_locked", "card_removed", "checksum_error")
_REGISTER_WIDTHS = {2013: (5, 20, 7), 2019: (11, 30, 30)}


def decode_register(body: bytes, edition: int) -> dict[str, Any]:
    """0x0100: province, city, maker, model, terminal id, plate colour, plate."""
    reader = Reader(body)
    maker, model, terminal = _REGISTER_WIDTHS[edition]
    return {
        "province": reader.u16("province id"),
        "city": reader.u16("city id"),
        "manufacturer": reader.text(maker, "manufacturer id"),
        "model": reader.text(model, "terminal model"),
        "terminal_id": reader.text(terminal, "terminal id"),
        "plate_color": reader.u8("plate colour"),
        "plate": reader.text(reader.remaining, "plate"),
    }


def encode_register(
    *,
    edition: int,
    province: int = 0,
    city: int = 0,
    manufacturer: str = "",
    model: str = "",
    terminal_id: str = "",
    plate_color: int = 0,
    plate: str = "",
) -> bytes:
    maker, width, terminal = _REGISTER_WIDTHS[edition]
    return b"".join(
        (
            province.to_bytes(2, "big"),
            city.to_bytes(2, "big"),
            gbk_bytes(manufacturer, maker),
            gbk_bytes(model, width),
            gbk_bytes(terminal_id, terminal),
            bytes([plate_color]),
            gbk_bytes(plate),
        )
    )


def decode_auth(body: bytes, edition: int) -> dict[str, Any]:
    """0x0102: 2013 is the bare code; 2019 is length + code + IMEI + software."""
    reader = Reader(body)
    if edition == 2013:
        return {"code": reader.text(reader.remaining, "auth code")}
    return {
        "code": reader.text(reader.u8("auth code length"), "auth code"),
        "imei": reader.text(15, "IMEI"),
        "software_version": reader.text(20, "software version"),
    }


def encode_auth(code: str, *, edition: int, imei: str = "", software_version: str = "") -> bytes:
    raw = gbk_bytes(code)
    if edition == 2013:
        return raw
    return bytes([len(raw)]) + raw + gbk_bytes(imei, 15) + gbk_bytes(software_version, 20)


def decode_driver(body: bytes, edition: int) -> dict[str, Any]:
    """0x0702 driver identity; the 2019 ID number is read whenever present."""
    reader = Reader(body)
    state = reader.u8("driver status")
    out: dict[str, Any] = {
        "status": {1: "card_inserted", 2: "card_removed"}.get(state, f"unknown_{state}"),
        "time": read_time(reader).isoformat(),
    }
    if state != 1 or not reader.remaining:
        return out
    result = reader.u8("IC card read result")
    out["ic_result"] = IC_RESULTS[result] if result < len(IC_RESULTS) else f"unknown_{result}"
    if result != 0:
        return out
    out["name"] = reader.text(reader.u8("driver name length"), "driver name")
    out["certificate"] = reader.text(20, "qualification certificate")
    out["issuer"] = reader.text(reader.u8("issuer name length"), "issuer name")
    out["expiry"] = read_date(reader, "certificate expiry")
    if reader.remaining >= 20 or edition == 2019:
        out["id_number"] = reader.text(20, "driver ID number")
    return out


def encode_driver(
    *,
    edition: int,
    inserted: bool,
    time: datetime,
    ic_result: int = 0,
    name: str = "",
    certificate: str = "",
    issuer: str = "",
    expiry: str = "20300101",
    id_number: str = "",
) -> bytes:
    body = bytes([1 if inserted else 2]) + time_bcd(time)
    if not inserted:
        return body
    body += bytes([ic_result])
    if ic_result:
        return body
    raw_name, raw_issuer = gbk_bytes(name), gbk_bytes(issuer)
    body += bytes([len(raw_name)]) + raw_name + gbk_bytes(certificate, 20)
    body += bytes([len(raw_issuer)]) + raw_issuer + bytes.fromhex(expiry)
    return body + (gbk_bytes(id_number, 20) if edition == 2019 else b"")


def decode_response(body: bytes, edition: int) -> dict[str, Any]:
    """0x0001 / 0x8001 general response: serial, message id, result."""
    reader = Reader(body)
    return {
        "reply_serial": reader.u16("reply serial"),
        "reply_id": f"0x{reader.u16('reply message id'):04X}",
        "result": reader.u8("result"),
    }


def encode_response(serial: int, msg_id: int, result: int) -> bytes:
    """0x8001 (platform) or 0x0001 (terminal) general response body."""
    return serial.to_bytes(2, "big") + msg_id.to_bytes(2, "big") + bytes([result])


def decode_register_response(body: bytes, edition: int) -> dict[str, Any]:
    reader = Reader(body)
    out: dict[str, Any] = {"reply_serial": reader.u16("reply serial")}
    result = reader.u8("result")
    out["result"] = REGISTER_RESULTS[result] if result < 5 else f"unknown_{result}"
    if result == 0:
        out["auth_code"] = reader.text(reader.remaining, "auth code")
    return out


def encode_register_response(serial: int, result: int, auth_code: str | None = None) -> bytes:
    """0x8100: the auth code is present only when the result is 0 (success)."""
    body = serial.to_bytes(2, "big") + bytes([result])
    return (body + gbk_bytes(auth_code or "")) if result == 0 else body


_DECODERS: dict[int, Callable[[bytes, int], dict[str, Any]]] = {
    TERMINAL_RESPONSE: decode_response,
    HEARTBEAT: lambda body, edition: {},
    LOGOUT: lambda body, edition: {},
    REGISTER: decode_register,
    AUTH: decode_auth,
    LOCATION: lambda body, edition: decode_location(body),
    DRIVER: decode_driver,
    BATCH: lambda body, edition: decode_batch(body),
    PLATFORM_RESPONSE: decode_response,
    REGISTER_RESPONSE: decode_register_response,
}


def is_known(msg_id: int) -> bool:
    return msg_id in _DECODERS


def decode_body(frame: Frame) -> dict[str, Any]:
    """Decode the body by message id; offsets in errors point into the raw frame.

    Unknown ids, encrypted bodies and subpackage fragments are returned raw
    (``{"raw": hex}``) rather than refused: the header is still useful.
    """
    header = frame.header
    decoder = _DECODERS.get(header.msg_id)
    if decoder is None or header.encryption or header.subpackage:
        return {"raw": frame.body.hex()}
    try:
        return decoder(frame.body, header.edition)
    except DecodeError as exc:
        where = None if exc.offset is None else 1 + header.length + exc.offset
        mapped = None if where is None else frame.escaped_offset(where)
        name = MESSAGE_NAMES[header.msg_id]
        raise DecodeError(f"{name} body: {exc.message}", mapped, header) from exc


def body_name(header: Header) -> str:
    return MESSAGE_NAMES.get(header.msg_id, "unknown")
