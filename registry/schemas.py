"""Input models for the registry: API bodies and bulk-import rows (pydantic v2).

Every model refuses unknown fields (``extra="forbid"``), so a body cannot
mass-assign columns such as ``id`` or ``created_at``. Enumerations accept the
English code or the Chinese label a police spreadsheet uses (``渣土车`` →
``muck_truck``); the canonical English code is what the model holds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from registry.validation import (
    normalise_plate,
    parse_date,
    validate_device_id,
    validate_district_code,
    validate_email,
    validate_hhmm,
    validate_http_url,
    validate_mobile,
    validate_phone,
    validate_resident_id,
    validate_uscc,
    validate_vin,
)


def _fold(text: str) -> str:
    """Case-, width- and space-insensitive form used to look up labels and headers."""
    return re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", text)).lower()


def _labels(what: str, labels: dict[str, tuple[str, ...]]) -> BeforeValidator:
    """Map an English code or any of its Chinese labels to the code; refuse anything else."""
    lookup = {_fold(alias): code for code, aliases in labels.items() for alias in (code, *aliases)}
    accepted = ", ".join(f"{code} ({aliases[0]})" for code, aliases in labels.items())

    def to_code(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        code = lookup.get(value) or lookup.get(_fold(value))
        if code is None:
            raise ValueError(f"unknown {what} {value!r}; expected one of: {accepted}")
        return code

    return BeforeValidator(to_code)


VEHICLE_CLASS_LABELS: dict[str, tuple[str, ...]] = {
    "muck_truck": ("渣土车", "渣土运输车", "建筑垃圾运输车"),
    "school_bus": ("校车", "专用校车"),
    "hazmat": ("危险货物运输车", "危化品车", "危险品车", "危货车", "危化品运输车"),
    "coach": ("客运车辆", "客车", "客运客车", "旅游客车"),
    "freight": ("货运车辆", "货车", "普通货车", "重型货车"),
    "rural_van": ("农村面包车", "面包车"),
    "low_speed_truck": ("低速载货汽车", "低速货车"),
}
COMPANY_KIND_LABELS: dict[str, tuple[str, ...]] = {
    "muck_transport": ("渣土运输企业", "渣土运输", "渣土公司"),
    "school": ("学校", "校车运营单位", "校车服务单位"),
    "hazardous_goods": ("危险货物运输企业", "危化品运输企业", "危险品运输企业", "危货运输"),
    "coach_operator": ("客运企业", "道路旅客运输企业", "旅游客运企业"),
    "freight": ("货运企业", "道路货物运输企业", "物流企业"),
    "rural_transport": ("农村客运", "农村运输企业", "农村客运企业"),
    "other": ("其他",),
}
QUALIFICATION_LABELS: dict[str, tuple[str, ...]] = {
    "hazmat_driver": ("危险货物运输驾驶员", "危险品驾驶员", "危货驾驶员"),
    "hazmat_escort": ("危险货物运输押运人员", "押运员", "危货押运员"),
    "school_bus_driver": ("校车驾驶人", "校车驾驶员"),
    "coach_driver": ("道路旅客运输驾驶员", "客运驾驶员"),
    "freight_driver": ("道路货物运输驾驶员", "货运驾驶员"),
    "muck_driver": ("渣土车驾驶员", "渣土运输驾驶员"),
}
VEHICLE_STATUS_LABELS: dict[str, tuple[str, ...]] = {
    "active": ("正常", "在用", "启用", "有效"),
    "suspended": ("停用", "暂停", "停运", "停驶", "注销"),
}
ROLE_LABELS: dict[str, tuple[str, ...]] = {"officer": ("民警",), "supervisor": ("主管", "带班领导")}
RECTIFICATION_LABELS: dict[str, tuple[str, ...]] = {
    "pending": ("未整改", "整改中", "待整改"),
    "done": ("已整改", "整改完成", "完成"),
    "overdue": ("逾期", "逾期未整改", "超期"),
}
_PASS = {"合格", "是", "✓", "✔", "√", "pass", "passed", "ok", "yes", "y", "true", "1"}
_FAIL = {"不合格", "否", "✗", "✘", "×", "x", "fail", "failed", "no", "n", "false", "0"}
CHECKLIST_ITEMS: tuple[str, ...] = (
    "brakes",
    "lights",
    "cover_sealing",
    "tailgate",
    "gps_terminal",
    "tachograph",
    "tyres",
    "load_limiter",
)


def _pass_fail(value: Any) -> Any:
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        folded = _fold(value)
        if folded in _PASS:
            return True
        if folded in _FAIL:
            return False
    raise ValueError(f"{value!r} is not a check result; use 合格/不合格 (pass/fail)")


def _to_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return parse_date(value)
    raise ValueError("expected a date written as YYYY-MM-DD")


def _checked(check: Callable[[str], object], message: str) -> AfterValidator:
    def validate(value: str) -> str:
        if not check(value):
            raise ValueError(message.format(value=value))
        return value

    return AfterValidator(validate)


def _ref_to_str(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Plate = Annotated[str, AfterValidator(normalise_plate)]
Vin = Annotated[str, AfterValidator(validate_vin)]
ResidentId = Annotated[str, AfterValidator(validate_resident_id)]
DistrictCode = Annotated[str, BeforeValidator(_ref_to_str), AfterValidator(validate_district_code)]
Phone = Annotated[str, BeforeValidator(_ref_to_str), AfterValidator(validate_phone)]
Mobile = Annotated[str, BeforeValidator(_ref_to_str), AfterValidator(validate_mobile)]
DeviceId = Annotated[str, BeforeValidator(_ref_to_str), AfterValidator(validate_device_id)]
CreditCode = Annotated[str, AfterValidator(validate_uscc)]
HttpUrlStr = Annotated[str, AfterValidator(validate_http_url)]
Email = Annotated[str, Field(max_length=200), AfterValidator(validate_email)]
HHMM = Annotated[str, AfterValidator(validate_hhmm)]
LenientDate = Annotated[date, BeforeValidator(_to_date)]
CheckResult = Annotated[bool, BeforeValidator(_pass_fail)]
# Lengths follow the registry tables (registry/models.py), so no valid input overflows a column.
PersonName = Annotated[str, Field(min_length=1, max_length=50)]
CompanyName = Annotated[str, Field(min_length=1, max_length=100)]
CompanyCode = Annotated[
    str,
    _checked(
        re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}").fullmatch,
        "company code {value!r} (企业编码) must be 1–40 letters, digits, '.', '_' or '-'",
    ),
]
Badge = Annotated[
    str,
    BeforeValidator(_ref_to_str),
    _checked(
        re.compile(r"[A-Za-z0-9-]{1,20}").fullmatch,
        "badge {value!r} (警号) must be 1–20 letters, digits or '-'",
    ),
]
GeofenceRef = Annotated[str, Field(min_length=1, max_length=60), BeforeValidator(_ref_to_str)]
PhotoRef = Annotated[str, Field(min_length=1, max_length=500)]

VehicleClass = Annotated[
    Literal[
        "muck_truck", "school_bus", "hazmat", "coach", "freight", "rural_van", "low_speed_truck"
    ],
    _labels("vehicle class (车辆类型)", VEHICLE_CLASS_LABELS),
]
CompanyKind = Annotated[
    Literal[
        "muck_transport",
        "school",
        "hazardous_goods",
        "coach_operator",
        "freight",
        "rural_transport",
        "other",
    ],
    _labels("company kind (企业类型)", COMPANY_KIND_LABELS),
]
QualificationKind = Annotated[
    Literal[
        "hazmat_driver",
        "hazmat_escort",
        "school_bus_driver",
        "coach_driver",
        "freight_driver",
        "muck_driver",
    ],
    _labels("qualification (从业资格)", QUALIFICATION_LABELS),
]
VehicleStatus = Annotated[
    Literal["active", "suspended"], _labels("status (状态)", VEHICLE_STATUS_LABELS)
]
OfficerRole = Annotated[Literal["officer", "supervisor"], _labels("role", ROLE_LABELS)]
RectificationStatus = Annotated[
    Literal["pending", "done", "overdue"],
    _labels("rectification status (整改状态)", RECTIFICATION_LABELS),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CompanyIn(_Input):
    code: CompanyCode
    name: CompanyName
    kind: CompanyKind
    licence_no: CreditCode
    contact: PersonName | None = None
    phone: Phone | None = None
    webhook_url: HttpUrlStr | None = None
    email: Email | None = None
    sms: Mobile | None = None
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=100)


class QualificationIn(_Input):
    kind: QualificationKind
    expires: LenientDate


class DriverIn(_Input):
    licence_no: ResidentId
    name: PersonName
    phone: Phone | None = None
    company: CompanyCode | None = None
    qualifications: list[QualificationIn] = []


class VehicleIn(_Input):
    plate: Plate
    vin: Vin
    vehicle_class: VehicleClass
    company: CompanyCode
    home_district: DistrictCode
    device_id: DeviceId | None = None
    officer: Badge | None = None
    routes: list[GeofenceRef] = []
    sites: list[GeofenceRef] = []
    permit_until: LenientDate | None = None
    status: VehicleStatus = "active"


class ShiftIn(_Input):
    """A roster entry; ``end`` before ``start`` crosses midnight, as in geofence schedules."""

    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1, max_length=7)
    start: HHMM
    end: HHMM

    @field_validator("days")
    @classmethod
    def _days_once(cls, days: list[int]) -> list[int]:
        if len(set(days)) != len(days):
            raise ValueError("shift days must not repeat")
        return days

    @field_validator("end")
    @classmethod
    def _not_empty(cls, end: str, info: ValidationInfo) -> str:
        if end == info.data.get("start"):
            raise ValueError("a shift's start and end must differ")
        return end


class OfficerIn(_Input):
    badge: Badge
    name: PersonName
    phone: Phone | None = None
    email: Email | None = None
    role: OfficerRole = "officer"
    districts: list[DistrictCode] = []
    roster: list[ShiftIn] | None = None


class InspectionRowIn(_Input):
    """One muck truck's monthly hazard inspection (隐患排查); a missing item was not checked."""

    plate: Plate
    date: LenientDate
    inspector: PersonName
    brakes: CheckResult | None = None
    lights: CheckResult | None = None
    cover_sealing: CheckResult | None = None
    tailgate: CheckResult | None = None
    gps_terminal: CheckResult | None = None
    tachograph: CheckResult | None = None
    tyres: CheckResult | None = None
    load_limiter: CheckResult | None = None
    hazards: str | None = Field(default=None, max_length=2000)
    rectification_deadline: LenientDate | None = None
    rectification_status: RectificationStatus | None = None
    photos: list[PhotoRef] = []

    @field_validator("rectification_deadline")
    @classmethod
    def _after_inspection(cls, deadline: Any, info: ValidationInfo) -> Any:
        # annotated as Any: the field called "date" hides the type inside this class
        inspected = info.data.get("date")
        if deadline is not None and inspected is not None and deadline < inspected:
            raise ValueError("rectification deadline (整改期限) is before the inspection date")
        return deadline
