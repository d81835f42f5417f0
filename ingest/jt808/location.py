"""0x0200 location report and 0x0704 batch (JT/T 808-2013/2019 §8.18, §8.47).

Alarm and status bits are named from the standard's tables (2013 table 24/25,
2019 table 25/26); bits 2013 left reserved and 2019 defined carry the 2019
name, harmless for 2013 terminals which never set them. Additional items the
platform does not know are kept raw (hex) instead of being dropped, because a
provincial platform may later need a vendor's item.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ingest.jt808.binary import (
    DecodeError,
    Reader,
    bitmask,
    bitnames,
    read_time,
    time_bcd,
)

ALARM_BITS: tuple[str | None, ...] = (
    "sos",  # 0 紧急报警
    "overspeed",  # 1 超速报警
    "fatigue",  # 2 疲劳驾驶报警
    "danger_warning",  # 3 危险预警 (2019: 危险驾驶行为报警)
    "gnss_fault",  # 4 GNSS 模块故障
    "gnss_antenna_cut",  # 5 GNSS 天线未接或被剪断
    "gnss_antenna_short",  # 6 GNSS 天线短路
    "power_low",  # 7 终端主电源欠压
    "power_cut",  # 8 终端主电源掉电
    "lcd_fault",  # 9 LCD 或显示器故障
    "tts_fault",  # 10 TTS 模块故障
    "camera_fault",  # 11 摄像头故障
    "ic_card_fault",  # 12 道路运输证 IC 卡模块故障
    "overspeed_warning",  # 13 超速预警
    "fatigue_warning",  # 14 疲劳驾驶预警
    "illegal_driving",  # 15 违规行驶报警 (2019; reserved in 2013)
    "tire_pressure_warning",  # 16 胎压预警 (2019; reserved in 2013)
    "right_turn_blind_zone",  # 17 右转盲区异常报警 (2019; reserved in 2013)
    "daily_driving_overtime",  # 18 当天累计驾驶超时
    "parking_overtime",  # 19 超时停车
    "area_in_out",  # 20 进出区域
    "route_in_out",  # 21 进出路线
    "route_time",  # 22 路段行驶时间不足/过长
    "route_deviation",  # 23 路线偏离报警
    "vss_fault",  # 24 车辆 VSS 故障
    "fuel_abnormal",  # 25 车辆油量异常
    "vehicle_stolen",  # 26 车辆被盗 (通过车辆防盗器)
    "illegal_ignition",  # 27 车辆非法点火
    "illegal_displacement",  # 28 车辆非法位移
    "collision",  # 29 碰撞预警 (2019: 碰撞侧翻报警)
    "rollover",  # 30 侧翻预警
    "illegal_door_open",  # 31 非法开门报警
)

#: Status bits; 2 (south), 3 (west) and 8-9 (load) are decoded separately.
STATUS_BITS: tuple[str | None, ...] = (
    "acc",  # 0 ACC on
    "located",  # 1 定位
    None,  # 2 south latitude
    None,  # 3 west longitude
    "out_of_service",  # 4 停运状态 (0 = 运营)
    "coordinates_encrypted",  # 5 经纬度已经保密插件加密
    "forward_collision_warning",  # 6 (2019) 紧急刹车系统采集的前撞预警
    "lane_departure_warning",  # 7 (2019) 车道偏移预警
    None,  # 8 load state (with 9)
    None,  # 9
    "oil_cut",  # 10 车辆油路断开
    "circuit_cut",  # 11 车辆电路断开
    "door_locked",  # 12 车门加锁
    "door1_open",  # 13 门1 (前门)
    "door2_open",  # 14 门2 (中门)
    "door3_open",  # 15 门3 (后门)
    "door4_open",  # 16 门4 (驾驶席门)
    "door5_open",  # 17 门5 (自定义)
    "gps",  # 18 使用 GPS 定位
    "beidou",  # 19 使用北斗定位
    "glonass",  # 20 使用 GLONASS 定位
    "galileo",  # 21 使用 Galileo 定位
    "moving",  # 22 (2019) 车辆处于行驶状态
)
LOAD_STATES = ("empty", "half", "reserved", "full")
LOCATION_TYPES = ("none", "circle", "rectangle", "polygon", "route")
VEHICLE_SIGNALS: tuple[str | None, ...] = (
    "low_beam", "high_beam", "right_turn", "left_turn", "brake", "reverse", "fog_lamp",
    "clearance_lamp", "horn", "air_conditioner", "neutral", "retarder", "abs", "heater",
    "clutch",
)  # fmt: skip
IO_STATES: tuple[str | None, ...] = ("deep_sleep", "sleep")
LOCATION_LENGTH = 28


def decode_location(body: bytes) -> dict[str, Any]:
    """Decode a 0x0200 body (also a 0x0704 item) into a JSON-ready dict."""
    reader = Reader(body)
    alarm = reader.u32("alarm flags")
    status = reader.u32("status flags")
    lat = reader.u32("latitude") / 1e6
    lon = reader.u32("longitude") / 1e6
    alt = reader.i16("altitude")
    speed = reader.u16("speed") / 10
    heading = reader.u16("direction")
    ts = read_time(reader)
    return {
        "alarm_flags": alarm,
        "alarms": bitnames(alarm, ALARM_BITS),
        "status_flags": status,
        "status": bitnames(status, STATUS_BITS),
        "load": LOAD_STATES[status >> 8 & 0b11],
        "lat": -lat if status >> 2 & 1 else lat,
        "lon": -lon if status >> 3 & 1 else lon,
        "alt": alt,
        "speed": speed,
        "heading": heading,
        "time": ts.isoformat(),
        "items": decode_items(reader),
    }


def decode_items(reader: Reader) -> dict[str, Any]:
    """Additional items (id BYTE, length BYTE, value); tolerant of bad tails."""
    extras: dict[str, Any] = {}
    while reader.remaining:
        if reader.remaining < 2 or reader.data[reader.pos + 1] > reader.remaining - 2:
            extras["raw_trailing"] = reader.rest().hex()
            break
        item_id = reader.u8("item id")
        value = reader.take(reader.u8("item length"), f"item 0x{item_id:02x}")
        try:
            extras.update(_decode_item(item_id, value))
        except (DecodeError, IndexError, KeyError):
            extras.setdefault("raw_items", {})[f"0x{item_id:02X}"] = value.hex()
    return extras


def _u(value: bytes, size: int) -> int:
    if len(value) != size:
        raise KeyError(size)  # wrong length: the caller keeps the item raw
    return int.from_bytes(value, "big")


def _decode_item(item_id: int, value: bytes) -> dict[str, Any]:
    if item_id in _SCALARS:
        name, size, scale = _SCALARS[item_id]
        number = _u(value, size)
        return {name: number / scale if scale != 1 else number}
    if item_id == 0x06:
        return {"carriage_temp_c": int.from_bytes(_exact(value, 2), "big", signed=True)}
    if item_id == 0x11:
        area_id = _u(value[1:], 4) if value[0] else None
        return {"overspeed": {"location_type": LOCATION_TYPES[value[0]], "area_id": area_id}}
    if item_id == 0x12:
        _exact(value, 6)
        return {"area_in_out": {"location_type": LOCATION_TYPES[value[0]],
                                "area_id": _u(value[1:5], 4),
                                "direction": ("in", "out")[value[5]]}}  # fmt: skip
    if item_id == 0x13:
        _exact(value, 7)
        return {"route_time": {"route_id": _u(value[:4], 4), "drive_time_s": _u(value[4:6], 2),
                               "result": ("insufficient", "overlong")[value[6]]}}  # fmt: skip
    if item_id == 0x25:
        return {"vehicle_signals": bitnames(_u(value, 4), VEHICLE_SIGNALS)}
    if item_id == 0x2A:
        return {"io_status": bitnames(_u(value, 2), IO_STATES)}
    if item_id == 0x2B:
        analog = _u(value, 4)
        return {"analog": {"ad0": analog & 0xFFFF, "ad1": analog >> 16}}
    raise KeyError(item_id)


def _exact(value: bytes, size: int) -> bytes:
    _u(value, size)
    return value


#: item id -> (extras key, size, divisor)
_SCALARS: dict[int, tuple[str, int, int]] = {
    0x01: ("mileage_km", 4, 10),
    0x02: ("fuel_l", 2, 10),
    0x03: ("tacho_speed_kmh", 2, 10),
    0x04: ("alarm_event_id", 2, 1),
    0x30: ("signal_strength", 1, 1),
    0x31: ("satellites", 1, 1),
}


def encode_location(
    *,
    lat: float,
    lon: float,
    time: datetime,
    alt: int = 0,
    speed: float = 0.0,
    heading: int = 0,
    alarms: Iterable[str] = (),
    status: Iterable[str] = ("located",),
    load: str = "empty",
    items: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """Build a 0x0200 body; south/west come from the signs of lat/lon."""
    flags = bitmask(status, STATUS_BITS, "status bit") | LOAD_STATES.index(load) << 8
    flags |= (lat < 0) << 2 | (lon < 0) << 3
    body = b"".join(
        (
            bitmask(alarms, ALARM_BITS, "alarm").to_bytes(4, "big"),
            flags.to_bytes(4, "big"),
            round(abs(lat) * 1e6).to_bytes(4, "big"),
            round(abs(lon) * 1e6).to_bytes(4, "big"),
            alt.to_bytes(2, "big", signed=True),
            round(speed * 10).to_bytes(2, "big"),
            heading.to_bytes(2, "big"),
            time_bcd(time),
        )
    )
    return body + b"".join(bytes([i, len(v)]) + v for i, v in items)


def encode_extras(extras: dict[str, Any]) -> list[tuple[int, bytes]]:
    """Scalar extras (mileage_km, fuel_l, satellites, ...) -> additional items."""
    by_name = {name: (item_id, size, scale) for item_id, (name, size, scale) in _SCALARS.items()}
    items = []
    for name, value in extras.items():
        item_id, size, scale = by_name[name]
        items.append((item_id, round(value * scale).to_bytes(size, "big")))
    return items


def decode_batch(body: bytes) -> dict[str, Any]:
    """0x0704: count WORD, type BYTE (0 normal, 1 blind-area backfill), items.

    A bad item does not sink the batch (contract §3: the rest still goes in):
    it is reported as ``{"index", "error", "raw"}`` in place.
    """
    reader = Reader(body)
    count = reader.u16("item count")
    kind = reader.u8("batch type")
    items: list[dict[str, Any]] = []
    while reader.remaining and len(items) < count:
        start = reader.pos
        size = reader.u16(f"length of item {len(items)}")
        raw = reader.take(size, f"item {len(items)}")
        try:
            items.append(decode_location(raw))
        except DecodeError as exc:
            where = None if exc.offset is None else start + 2 + exc.offset
            items.append({"index": len(items), "error": exc.message, "offset": where,
                          "raw": raw.hex()})  # fmt: skip
    if len(items) != count:
        raise DecodeError(f"batch declares {count} items but holds {len(items)}", 0)
    return {"count": count, "type": "backfill" if kind == 1 else "normal", "items": items}


def encode_batch(locations: Sequence[bytes], *, backfill: bool = False) -> bytes:
    """Build a 0x0704 body from 0x0200 bodies."""
    head = len(locations).to_bytes(2, "big") + bytes([1 if backfill else 0])
    return head + b"".join(len(loc).to_bytes(2, "big") + loc for loc in locations)
