"""The registry's input models: API bodies and import rows."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from registry.schemas import (
    CHECKLIST_ITEMS,
    VEHICLE_CLASS_LABELS,
    CompanyIn,
    DriverIn,
    InspectionRowIn,
    OfficerIn,
    VehicleIn,
)
from registry.validation import make_resident_id
from rules.types import VEHICLE_CLASSES

VIN = "1M8GDM9AXKP042788"
USCC = "91350100M000100Y43"


def vehicle(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "plate": "鲁B·12345",
        "vin": VIN,
        "vehicle_class": "muck_truck",
        "company": "QD-MUCK-01",
        "home_district": "370202",
    }
    return body | changes


def errors_by_field(exc: ValidationError) -> dict[str, str]:
    return {".".join(map(str, e["loc"])): e["msg"] for e in exc.errors()}


def test_vehicle_body_is_normalised() -> None:
    v = VehicleIn.model_validate(
        vehicle(routes=[3, "R2"], permit_until="2026/12/31", device_id="qd-0001")
    )
    assert v.plate == "鲁B12345"
    assert v.routes == ["3", "R2"]
    assert v.permit_until == date(2026, 12, 31)
    assert v.status == "active"
    assert v.sites == [] and v.officer is None


def test_vehicle_classes_match_the_contract() -> None:
    assert tuple(VEHICLE_CLASS_LABELS) == VEHICLE_CLASSES


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("渣土车", "muck_truck"),
        ("校车", "school_bus"),
        ("危险货物运输车", "hazmat"),
        ("危化品车", "hazmat"),
        ("客运车辆", "coach"),
        ("客车", "coach"),
        ("货运车辆", "freight"),
        ("货车", "freight"),
        ("农村面包车", "rural_van"),
        ("低速载货汽车", "low_speed_truck"),
        ("Muck_Truck", "muck_truck"),
    ],
)
def test_vehicle_class_accepts_chinese_labels(label: str, code: str) -> None:
    assert VehicleIn.model_validate(vehicle(vehicle_class=label)).vehicle_class == code


def test_unknown_fields_are_refused_so_bodies_cannot_mass_assign() -> None:
    with pytest.raises(ValidationError) as caught:
        VehicleIn.model_validate(vehicle(id=7, created_at="2026-01-01"))
    found = errors_by_field(caught.value)
    assert set(found) == {"id", "created_at"}
    assert all(msg == "Extra inputs are not permitted" for msg in found.values())


def test_every_bad_vehicle_field_is_reported_at_once() -> None:
    body = vehicle(
        plate="鲁BI2345",
        vin="1M8GDM9A1KP042788",
        vehicle_class="拖拉机",
        company="QD MUCK",
        home_district="99",
        device_id="bad id",
        status="maybe",
    )
    with pytest.raises(ValidationError) as caught:
        VehicleIn.model_validate(body)
    found = errors_by_field(caught.value)
    assert set(found) == {
        "plate",
        "vin",
        "vehicle_class",
        "company",
        "home_district",
        "device_id",
        "status",
    }
    assert "letters I and O" in found["plate"]
    assert "expected one of: muck_truck (渣土车)" in found["vehicle_class"]
    assert "check digit" in found["vin"]


def test_vehicle_status_accepts_chinese() -> None:
    assert VehicleIn.model_validate(vehicle(status="停用")).status == "suspended"


def test_company_body() -> None:
    c = CompanyIn.model_validate(
        {
            "code": "QD-SCHOOLBUS-01",
            "name": "青岛市南校车服务有限公司",
            "kind": "学校",
            "licence_no": USCC.lower(),
            "phone": "0532-88776655",
            "webhook_url": "https://hooks.example.cn/keywatch",
            "email": "ops@example.cn",
            "sms": "+86 139 1234 5678",
            "webhook_secret": "s" * 32,
        }
    )
    assert (c.kind, c.licence_no, c.sms) == ("school", USCC, "13912345678")


def test_company_with_bad_credit_code_url_and_short_secret() -> None:
    with pytest.raises(ValidationError) as caught:
        CompanyIn.model_validate(
            {
                "code": "QD-1",
                "name": "x",
                "kind": "freight",
                "licence_no": "91350100M000100Y44",
                "webhook_url": "ftp://example.cn",
                "sms": "0532-88776655",
                "webhook_secret": "short",
            }
        )
    found = errors_by_field(caught.value)
    assert set(found) == {"licence_no", "webhook_url", "sms", "webhook_secret"}
    assert "统一社会信用代码" in found["licence_no"]


def test_driver_with_qualifications() -> None:
    rid = make_resident_id("370202", date(1985, 3, 4), 17)
    d = DriverIn.model_validate(
        {
            "licence_no": rid,
            "name": "王师傅",
            "company": "QD-HAZ-01",
            "qualifications": [
                {"kind": "危险货物运输驾驶员", "expires": "2027-06-30"},
                {"kind": "school_bus_driver", "expires": date(2026, 12, 31)},
            ],
        }
    )
    assert [q.kind for q in d.qualifications] == ["hazmat_driver", "school_bus_driver"]
    assert d.qualifications[0].expires == date(2027, 6, 30)


def test_driver_with_bad_id_and_qualification() -> None:
    with pytest.raises(ValidationError) as caught:
        DriverIn.model_validate(
            {
                "licence_no": "370202199001011238",
                "name": "王",
                "qualifications": [{"kind": "pilot", "expires": "soon"}],
            }
        )
    found = errors_by_field(caught.value)
    assert set(found) == {"licence_no", "qualifications.0.kind", "qualifications.0.expires"}


def test_officer_roster() -> None:
    o = OfficerIn.model_validate(
        {
            "badge": "P37020201",
            "name": "李警官",
            "role": "supervisor",
            "districts": ["370202", 370203],
            "roster": [{"days": [1, 2, 3, 4, 5], "start": "7:00", "end": "19:00"}],
        }
    )
    assert o.districts == ["370202", "370203"]
    assert o.roster is not None and o.roster[0].start == "07:00"


@pytest.mark.parametrize(
    "shift",
    [
        {"days": [], "start": "07:00", "end": "19:00"},
        {"days": [0], "start": "07:00", "end": "19:00"},
        {"days": [8], "start": "07:00", "end": "19:00"},
        {"days": [1, 1], "start": "07:00", "end": "19:00"},
        {"days": [1], "start": "25:00", "end": "19:00"},
        {"days": [1], "start": "07:00", "end": "07:00"},
    ],
)
def test_bad_shifts_are_refused(shift: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OfficerIn.model_validate({"badge": "P1", "name": "李", "roster": [shift]})


def test_inspection_row_accepts_chinese_results() -> None:
    row = InspectionRowIn.model_validate(
        {
            "plate": "鲁B12345",
            "date": "2026年11月3日",
            "inspector": "张三",
            "brakes": "合格",
            "lights": "不合格",
            "cover_sealing": "是",
            "tailgate": "否",
            "gps_terminal": "✓",
            "tachograph": "✗",
            "tyres": "OK",
            "load_limiter": "0",
            "hazards": "灯光损坏",
            "rectification_deadline": "2026-11-10",
            "rectification_status": "未整改",
            "photos": ["a.jpg"],
        }
    )
    results = [getattr(row, item) for item in CHECKLIST_ITEMS]
    assert results == [True, False, True, False, True, False, True, False]
    assert row.rectification_status == "pending"
    assert row.date == date(2026, 11, 3)


@pytest.mark.parametrize(("label", "status"), [("已整改", "done"), ("整改中", "pending")])
def test_rectification_status_labels(label: str, status: str) -> None:
    row = InspectionRowIn.model_validate(
        {
            "plate": "鲁B12345",
            "date": "2026-11-03",
            "inspector": "张三",
            "rectification_status": label,
        }
    )
    assert row.rectification_status == status


def test_inspection_row_problems() -> None:
    with pytest.raises(ValidationError) as caught:
        InspectionRowIn.model_validate(
            {"plate": "鲁B12345", "date": "2026-11-03", "inspector": "张三", "brakes": "maybe"}
        )
    assert "合格/不合格" in errors_by_field(caught.value)["brakes"]
    with pytest.raises(ValidationError, match="before the inspection date"):
        InspectionRowIn.model_validate(
            {
                "plate": "鲁B12345",
                "date": "2026-11-03",
                "inspector": "张三",
                "rectification_deadline": "2026-11-01",
            }
        )


def test_lengths_fit_the_registry_columns() -> None:
    rid = make_resident_id("370202", date(1985, 3, 4), 17)
    with pytest.raises(ValidationError, match="at most 50 characters"):
        DriverIn.model_validate({"licence_no": rid, "name": "王" * 51})
    with pytest.raises(ValidationError, match="1–40 letters"):
        VehicleIn.model_validate(vehicle(company="Q" * 41))
    with pytest.raises(ValidationError, match="1–20 letters"):
        OfficerIn.model_validate({"badge": "P" * 21, "name": "李"})
    with pytest.raises(ValidationError, match="at most 60 characters"):
        VehicleIn.model_validate(vehicle(routes=["R" * 61]))
