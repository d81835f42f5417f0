"""Company notices (抄告): written in the incident's transaction, in Chinese, with
plate, local time, place (district name and coordinates), rule and details."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import text

from alerts import zh
from alerts.outbox import Pending

_INSERT = text("""
INSERT INTO notices (incident_id, company, plate, rule, severity, occurred_at, district, title,
                     text, body)
VALUES (:incident_id, :company, :plate, :rule, :severity, :occurred_at, :district, :title, :text,
        CAST(:body AS jsonb))
ON CONFLICT DO NOTHING
""")


def notice_body(*, incident_id: int, plate: str, vehicle_class: str, rule: str, severity: str,
                at: datetime, district: str | None, district_name: str | None,
                lon: float | None, lat: float | None, details: dict[str, Any],
                tz: tzinfo) -> dict[str, Any]:
    return {
        "incident_id": incident_id, "plate": plate, "vehicle_class": vehicle_class,
        "vehicle_class_name": zh.CLASSES.get(vehicle_class, vehicle_class),
        "rule": rule, "rule_name": zh.rule_name(rule), "severity": severity,
        "severity_name": zh.SEVERITIES.get(severity, severity),
        "occurred_at": at.astimezone(tz).isoformat(), "district": district,
        "district_name": district_name, "lon": lon, "lat": lat, "details": details,
    }


def notice_text(body: dict[str, Any]) -> tuple[str, str]:
    """(title, text) of a notice body, in Chinese."""
    when = datetime.fromisoformat(body["occurred_at"]).strftime("%Y年%m月%d日 %H:%M:%S")
    place = body["district_name"] or "辖区外"
    if body["lon"] is not None and body["lat"] is not None:
        place += f"（东经 {body['lon']:.5f}，北纬 {body['lat']:.5f}）"
    title = f"【抄告】{body['plate']} {body['rule_name']}"
    text_ = (f"贵单位车辆 {body['plate']}（{body['vehicle_class_name']}）于 {when} 在 {place} "
             f"发生“{body['rule_name']}”（{body['severity_name']}）。"
             f"详情：{zh.details_text(body['details'])}。"
             f"请立即核查并督促驾驶员整改。事件编号 {body['incident_id']}。")
    return title, text_


def write_notice(pending: Pending, *, company: str, body: dict[str, Any]) -> None:
    import json

    title, text_ = notice_text(body)
    pending.add(_INSERT, {
        "incident_id": body["incident_id"], "company": company, "plate": body["plate"],
        "rule": body["rule"], "severity": body["severity"],
        "occurred_at": datetime.fromisoformat(body["occurred_at"]),
        "district": body["district"], "title": title, "text": text_,
        "body": json.dumps(body, ensure_ascii=False, default=str),
    })
