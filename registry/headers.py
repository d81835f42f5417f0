"""Which spreadsheet columns mean which schema field, for each kind of bulk import.

Headers are matched case-, width- and whitespace-insensitively, ignoring a
required-marker ``*`` and a trailing hint in brackets (``准运证有效期（YYYY-MM-DD）``).
The first alias of each field is the one shown to users in messages.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from registry.schemas import CompanyIn, DriverIn, InspectionRowIn, VehicleIn

_LIST_SEPARATORS = re.compile(r"[;；,，、|\n]")
_QUALIFICATION = re.compile(
    r"(?P<kind>.+?)\s*(?:[:：(（]|\s)\s*(?P<expires>[0-9]{4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}日?)"
    r"\s*[)）]?"
)


def template_headers(kind: str) -> list[str]:
    """The usual Chinese header of each column of ``kind``, e.g. for a blank template."""
    return [aliases[0] for aliases in IMPORT_SPECS[kind].headers.values()]


def fold_header(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    folded = re.sub(r"\([^()]*\)$", "", folded)  # trailing hint: "(必填)", "(yyyy-mm-dd)"
    return re.sub(r"[\s_\-*:]", "", folded)


def split_list(text: str) -> list[str]:
    return [item.strip() for item in _LIST_SEPARATORS.split(text) if item.strip()]


def split_qualifications(text: str) -> list[dict[str, str]]:
    """``危险货物运输驾驶员:2027-06-30；校车驾驶人(2026-12-31)`` → ``[{kind, expires}, …]``."""
    items = []
    for item in re.split(r"[;；、|\n]", text):
        item = item.strip()
        if not item:
            continue
        m = _QUALIFICATION.fullmatch(item)
        if m is None:
            raise ValueError(
                f"qualification {item!r} must be written as kind:expiry date, "
                "e.g. 危险货物运输驾驶员:2027-06-30"
            )
        items.append({"kind": m["kind"].strip(), "expires": m["expires"]})
    return items


@dataclass(frozen=True)
class ImportSpec:
    model: type[BaseModel]
    headers: dict[str, tuple[str, ...]]  # field → accepted headers, the usual Chinese one first
    unique: tuple[tuple[str, ...], ...]  # natural keys first; a repeat within a file is an error
    converters: dict[str, Callable[[str], Any]]

    def convert(self, name: str, text: str) -> Any:
        converter = self.converters.get(name)
        return text if converter is None else converter(text)

    def label(self, name: str) -> str:
        return f"{self.headers[name][0]} ({name})"

    def map_header(self, header: list[str]) -> tuple[list[str], list[str]]:
        """The field of each column ("" if unknown), and every problem with the header."""
        lookup = {
            fold_header(a): name for name, aliases in self.headers.items() for a in (name, *aliases)
        }
        fields: list[str] = []
        problems: list[str] = []
        used: dict[str, str] = {}
        for title in header:
            name = lookup.get(fold_header(title))
            if name is None:
                accepted = ", ".join(self.label(n) for n in self.headers)
                problems.append(f"unknown column {title!r}; accepted columns: {accepted}")
            elif name in used:
                problems.append(f"columns {used[name]!r} and {title!r} both mean {name}")
            else:
                used[name] = title
            fields.append(name or "")
        required = [n for n, f in self.model.model_fields.items() if f.is_required()]
        missing = [self.label(n) for n in required if n not in used]
        if missing:
            problems.insert(0, f"missing required columns: {', '.join(missing)}")
        return fields, problems


_COMPANY_HEADERS = ("所属企业", "企业编码", "所属企业编码", "企业代码", "company_code")
IMPORT_SPECS: dict[str, ImportSpec] = {
    "vehicles": ImportSpec(
        model=VehicleIn,
        headers={
            "plate": ("号牌号码", "车牌号", "车牌号码", "号牌", "plate_no", "plate number"),
            "vin": ("车辆识别代号", "车架号", "车辆识别代码"),
            "vehicle_class": ("车辆类型", "车辆类别", "class"),
            "company": _COMPANY_HEADERS,
            "device_id": ("终端编号", "终端号", "终端ID", "device"),
            "home_district": ("辖区代码", "所属辖区", "辖区", "district"),
            "officer": ("警号", "责任民警", "责任民警警号", "badge"),
            "routes": ("核准路线", "路线"),
            "sites": ("核准场所", "场所"),
            "permit_until": ("准运证有效期", "准运证有效期至"),
            "status": ("状态", "车辆状态"),
        },
        unique=(("plate",), ("vin",), ("device_id",)),
        converters={"routes": split_list, "sites": split_list},
    ),
    "drivers": ImportSpec(
        model=DriverIn,
        headers={
            "licence_no": ("驾驶证号", "身份证号", "驾驶证号码", "身份证号码", "license_no"),
            "name": ("姓名", "驾驶员姓名"),
            "phone": ("联系电话", "电话", "手机号", "手机号码"),
            "company": _COMPANY_HEADERS,
            "qualifications": ("从业资格", "从业资格证"),
        },
        unique=(("licence_no",),),
        converters={"qualifications": split_qualifications},
    ),
    "companies": ImportSpec(
        model=CompanyIn,
        headers={
            "code": ("企业编码", "企业代码", "company_code"),
            "name": ("企业名称", "单位名称"),
            "kind": ("企业类型", "单位类型"),
            "licence_no": ("统一社会信用代码", "信用代码", "uscc", "license_no"),
            "contact": ("联系人",),
            "phone": ("联系电话", "电话"),
            "webhook_url": ("回调地址", "webhook"),
            "email": ("邮箱", "电子邮箱", "e-mail"),
            "sms": ("短信号码", "短信"),
        },
        unique=(("code",), ("licence_no",)),
        converters={},
    ),
    "inspections": ImportSpec(
        model=InspectionRowIn,
        headers={
            "plate": ("号牌号码", "车牌号", "车牌号码", "号牌"),
            "date": ("排查日期", "检查日期"),
            "inspector": ("排查人", "检查人"),
            "brakes": ("制动", "制动系统"),
            "lights": ("灯光",),
            "cover_sealing": ("密闭", "篷布", "密闭装置", "篷布密闭"),
            "tailgate": ("尾板",),
            "gps_terminal": ("卫星定位终端", "定位终端", "gps"),
            "tachograph": ("行驶记录仪",),
            "tyres": ("轮胎", "tires"),
            "load_limiter": ("限载装置",),
            "hazards": ("隐患", "隐患描述", "存在隐患"),
            "rectification_deadline": ("整改期限",),
            "rectification_status": ("整改状态",),
            "photos": ("照片",),
        },
        unique=(("plate", "date"),),
        converters={"photos": split_list},
    ),
}
