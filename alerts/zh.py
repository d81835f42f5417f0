"""Chinese names for what company notices and officers' messages say (users read Chinese)."""

from __future__ import annotations

from typing import Any

RULES = {
    "speeding": "超速行驶",
    "forbidden_zone": "驶入禁行区域",
    "route_deviation": "偏离核准路线",
    "fatigue_driving": "疲劳驾驶",
    "daily_driving_limit": "日累计驾驶超时",
    "night_driving": "夜间（02:00–05:00）违规行驶",
    "illegal_stop": "违规停车",
    "illegal_unloading": "违规倾倒（非指定场所举升）",
    "cover_open_moving": "未密闭行驶（篷布未盖）",
    "signal_lost": "车载终端信号中断",
    "accident_suspect": "疑似交通事故",
    "terminal_alarm": "终端报警",
    "geofence_enter": "驶入监控区域",
    "geofence_exit": "驶出监控区域",
    "inspection_overdue": "月度隐患排查逾期",
}
SEVERITIES = {"info": "提示", "warning": "一般", "serious": "严重", "critical": "紧急"}
CLASSES = {
    "muck_truck": "渣土车", "school_bus": "校车", "hazmat": "危险货物运输车",
    "coach": "客运车辆", "freight": "货运车辆", "rural_van": "农村面包车",
    "low_speed_truck": "低速载货汽车",
}
DETAIL_KEYS = {
    "speed": ("车速", "km/h"), "max_speed": ("最高车速", "km/h"), "limit": ("限速", "km/h"),
    "limit_s": ("时限", "秒"), "driving_s": ("驾驶时长", "秒"), "stopped_s": ("停车时长", "秒"),
    "gap_s": ("中断时长", "秒"), "distance_m": ("偏离距离", "米"), "zone": ("区域编号", ""),
    "zone_name": ("区域", ""), "alarm": ("报警类型", ""), "driver": ("驾驶员", ""),
    "reason": ("原因", ""), "source": ("来源", ""), "repeats": ("重复次数", ""),
}


def rule_name(rule: str) -> str:
    return RULES.get(rule, rule)


def details_text(details: dict[str, Any]) -> str:
    """``{"speed": 74, "limit": 60}`` → ``车速 74 km/h；限速 60 km/h``."""
    parts = []
    for key, value in details.items():
        label, unit = DETAIL_KEYS.get(key, (key, ""))
        if isinstance(value, float):
            value = f"{value:.1f}"
        parts.append(f"{label} {value}{(' ' + unit) if unit else ''}")
    return "；".join(parts) or "无"
