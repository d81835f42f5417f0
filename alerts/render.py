"""What a message says: the contract §5 incident document, and short Chinese texts
for officers (SMS / e-mail) and digests."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from geoalchemy2.shape import to_shape

from alerts import zh
from alerts.models import Incident

PURPOSE_TAGS = {"incident": "告警", "escalation": "升级", "assignment": "指派"}


def incident_dict(incident: Incident, tz: tzinfo) -> dict[str, Any]:
    point = to_shape(incident.geom) if incident.geom is not None else None

    def local(t: datetime | None) -> str | None:
        return t.astimezone(tz).isoformat() if t else None

    return {
        "id": incident.id, "rule": incident.rule, "severity": incident.severity,
        "status": incident.status, "plate": incident.plate,
        "vehicle_class": incident.vehicle_class, "device_id": incident.device_id,
        "company": incident.company, "district": incident.district,
        "officer": incident.officer, "started_at": local(incident.started_at),
        "ended_at": local(incident.ended_at), "lon": point.x if point else None,
        "lat": point.y if point else None, "details": incident.details or {},
    }


def officer_text(purpose: str, doc: dict[str, Any]) -> tuple[str, str]:
    """(subject, text) for an officer, e.g. ``【告警】紧急 终端报警 鲁B00001 …``."""
    when = (doc["started_at"] or "")[:19].replace("T", " ")
    place = doc["district"] or "-"
    if doc["lon"] is not None:
        place += f" ({doc['lon']:.5f}, {doc['lat']:.5f})"
    tag = PURPOSE_TAGS.get(purpose, "告警")
    subject = (f"【{tag}】{zh.SEVERITIES.get(doc['severity'], doc['severity'])} "
               f"{zh.rule_name(doc['rule'])} {doc['plate']}")
    text = (f"{subject}（{zh.CLASSES.get(doc['vehicle_class'], doc['vehicle_class'])}）"
            f" {when} {place}；{zh.details_text(doc['details'])}。事件 #{doc['id']}")
    if purpose == "escalation":
        text += "，未按时确认，已升级至中队长"
    return subject, text


def digest_text(docs: list[dict[str, Any]]) -> tuple[str, str]:
    subject = f"【汇总】1分钟内另有 {len(docs)} 条一般/提示告警"
    lines = [f"#{d['id']} {d['plate']} {zh.rule_name(d['rule'])} "
             f"{(d['started_at'] or '')[11:19]}" for d in docs]
    return subject, subject + "：" + "；".join(lines)
