"""Pure validators for the registry's identifiers: plates, VINs, ID numbers, codes.

Each ``validate_*``/``normalise_*`` function takes user input, returns the
canonical form, or raises ``ValueError`` whose message a traffic-police clerk
can act on (it names the field, in Chinese too where they read it). No
database, no clock except "today" for birth dates.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from urllib.parse import urlsplit

PROVINCE_ABBREVIATIONS = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

# GB/T 2260 first two digits; 71/81/82/83 are Taiwan, Hong Kong, Macao and the
# residence permits issued to their residents.
PROVINCE_CODES = frozenset(
    str(code)
    for code in (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45)
    + (46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83)
)

_SERIAL = "[A-HJ-NP-Z0-9]"  # plate serials never use I or O (confused with 1 and 0)
# GA 36-2018 small new-energy plates start with D (pure electric) or F (other);
# the 2021 extension added A B C E (pure electric) and G H J K (other).
_SMALL_NEV_LETTERS = "DABCEFGHJK"
_PLATE_PATTERNS = (
    re.compile(rf"{_SERIAL}{{5}}"),  # ordinary: 鲁B12345
    re.compile(rf"[{_SMALL_NEV_LETTERS}]{_SERIAL}[0-9]{{4}}"),  # small NEV: 鲁BD12345
    re.compile(r"[0-9]{5}[DF]"),  # large NEV: 鲁B12345D
    re.compile(rf"{_SERIAL}{{4}}[挂学警领]"),  # trailer, driving school, police, consulate
)
_HK_MACAO_PLATE = re.compile(rf"粤Z{_SERIAL}{{4}}[港澳]")
_EMBASSY_PLATE = re.compile(r"使[0-9]{6}")
_PLATE_SEPARATORS = re.compile(r"[\s·•.・‧∙⋅\-_]")


_WHITESPACE = re.compile(r"\s")
_DISTRICT_CODE = re.compile(r"[0-9]{6}")
_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _clean(s: object, what: str) -> str:
    if not isinstance(s, str):
        raise ValueError(f"{what} must be text, got {type(s).__name__}")
    return unicodedata.normalize("NFKC", s).strip()


def normalise_plate(s: str) -> str:
    """Return the canonical plate (``鲁b·12345`` → ``鲁B12345``) or raise ``ValueError``."""
    plate = _PLATE_SEPARATORS.sub("", _clean(s, "plate")).upper()
    bad = f"plate {s!r} (号牌号码) is not a valid Chinese number plate"
    if not plate:
        raise ValueError("plate (号牌号码) is empty")
    if _EMBASSY_PLATE.fullmatch(plate) or _HK_MACAO_PLATE.fullmatch(plate):
        return plate
    if plate[0] not in PROVINCE_ABBREVIATIONS:
        raise ValueError(f"{bad}: {plate[0]!r} is not a province abbreviation")
    if len(plate) not in (7, 8):
        raise ValueError(f"{bad}: it has {len(plate)} characters, expected 7 or 8 (new-energy)")
    if not ("A" <= plate[1] <= "Z") or plate[1] == "I":
        raise ValueError(f"{bad}: the second character must be the issuing-authority letter")
    serial = plate[2:]
    if "I" in serial or "O" in serial:
        raise ValueError(f"{bad}: letters I and O are not used in plate serials")
    if len(plate) == 8 and not any(p.fullmatch(serial) for p in _PLATE_PATTERNS[1:3]):
        raise ValueError(f"{bad}: an 8-character new-energy plate is 鲁BD12345 or 鲁B12345D")
    if not any(p.fullmatch(serial) for p in _PLATE_PATTERNS):
        raise ValueError(f"{bad}: expected e.g. 鲁B12345, 鲁BD12345, 鲁B1234挂 or 鲁B1234学")
    return plate


# ISO 3779 / FMVSS 565 transliteration; GB 16735 uses the same check digit.
_VIN_VALUES = {str(d): d for d in range(10)} | dict(
    zip(
        "ABCDEFGHJKLMNPRSTUVWXYZ",
        [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9],
        strict=True,
    )
)
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    """The check digit for a 17-character VIN (position 9 is ignored)."""
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def validate_vin(s: str) -> str:
    """Return the upper-case VIN or raise ``ValueError`` (length, I/O/Q, check digit)."""
    vin = _WHITESPACE.sub("", _clean(s, "VIN")).upper()
    what = f"VIN {s!r} (车辆识别代号)"
    if len(vin) != 17:
        raise ValueError(f"{what} has {len(vin)} characters, expected 17")
    if set(vin) & set("IOQ"):
        raise ValueError(f"{what} contains I, O or Q, which VINs never use")
    bad = sorted(set(vin) - _VIN_VALUES.keys())
    if bad:
        raise ValueError(f"{what} contains characters a VIN cannot hold: {''.join(bad)}")
    expected = vin_check_digit(vin)
    if vin[8] != expected:
        raise ValueError(
            f"{what} fails its check digit: position 9 is {vin[8]!r}, "
            f"expected {expected!r} — probably a typing error"
        )
    return vin


def make_vin(prefix16_without_check: str) -> str:
    """Insert the check digit: the argument is the VIN's 16 other characters, in order."""
    body = prefix16_without_check.upper()
    if len(body) != 16 or not set(body) <= _VIN_VALUES.keys():
        raise ValueError("make_vin needs 16 VIN characters (no I, O or Q)")
    vin = body[:8] + "0" + body[8:]
    return vin[:8] + vin_check_digit(vin) + vin[9:]


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"  # ISO 7064 MOD 11-2, indexed by weighted sum mod 11


def resident_id_check(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def validate_resident_id(s: str, *, today: date | None = None) -> str:
    """Return an 18-character PRC resident ID (GB 11643) with an upper-case X, or raise.

    The birth date must be real, from 1900 on and not after ``today`` (default: the
    system date)."""
    rid = _clean(s, "ID number").upper()
    what = f"ID number {s!r} (身份证号)"
    if re.fullmatch(r"[0-9]{15}", rid):
        raise ValueError(f"{what} is an old 15-digit number; the 18-digit number is required")
    if not re.fullmatch(r"[0-9]{17}[0-9X]", rid):
        raise ValueError(f"{what} must be 17 digits followed by a digit or X")
    if rid[:2] not in PROVINCE_CODES:
        raise ValueError(f"{what} starts with {rid[:2]}, which is not a province code")
    try:
        born = date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14]))
    except ValueError:
        raise ValueError(f"{what} holds an impossible birth date {rid[6:14]}") from None
    if born.year < 1900 or born > (today or date.today()):
        raise ValueError(f"{what} holds an implausible birth date {born.isoformat()}")
    if rid[17] != resident_id_check(rid[:17]):
        raise ValueError(f"{what} fails its check character — probably a typing error")
    return rid


def make_resident_id(region6: str, birth_date: date, seq3: int | str) -> str:
    """Build a valid ID number for tests and sample data (``seq3``: 0–999; odd = male)."""
    region = validate_district_code(region6)
    seq = int(seq3)
    if not 0 <= seq <= 999:
        raise ValueError("seq3 must be between 0 and 999")
    first17 = f"{region}{birth_date:%Y%m%d}{seq:03d}"
    return first17 + resident_id_check(first17)


def validate_district_code(s: str) -> str:
    """A 6-digit administrative division code (GB/T 2260) such as ``370202``."""
    code = _clean(s, "district code")
    if not _DISTRICT_CODE.fullmatch(code):
        raise ValueError(f"district code {s!r} (辖区代码) must be 6 digits, e.g. 370202")
    if code[:2] not in PROVINCE_CODES:
        raise ValueError(
            f"district code {s!r} (辖区代码) starts with {code[:2]}, which is not a province code"
        )
    return code


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I O S V Z
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def validate_uscc(s: str) -> str:
    """An 18-character unified social credit code (GB 32100) with a valid check character."""
    code = _WHITESPACE.sub("", _clean(s, "credit code")).upper()
    what = f"unified social credit code {s!r} (统一社会信用代码)"
    if len(code) != 18:
        raise ValueError(f"{what} has {len(code)} characters, expected 18")
    bad = sorted(set(code) - set(_USCC_CHARS))
    if bad:
        raise ValueError(f"{what} contains characters it cannot hold: {''.join(bad)}")
    if code[17] != uscc_check(code[:17]):
        raise ValueError(f"{what} fails its check character — probably a typing error")
    return code


def make_uscc(first17: str) -> str:
    """Append the GB 32100 check character (for tests and sample data)."""
    body = first17.upper()
    if len(body) != 17 or not set(body) <= set(_USCC_CHARS):
        raise ValueError(f"make_uscc needs 17 characters from {_USCC_CHARS}")
    return body + uscc_check(body)


_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_EXTENSION_SPLIT = re.compile(r"转|#|ext\.?|x", re.IGNORECASE)
_COUNTRY_PREFIX = re.compile(r"^(?:\+86|0086|86(?=1[3-9][0-9]{9}$))")


def validate_phone(s: str) -> str:
    """Mainland mobile (``13912345678``) or landline with area code (``0532-88776655``).

    ``+86``/``0086``, spaces, hyphens and brackets are accepted; a landline
    comes back as ``area-number`` and may carry an extension (``转``/``#``/``ext``).
    """
    raw = _clean(s, "phone number")
    main, ext = (_EXTENSION_SPLIT.split(raw, maxsplit=1) + [""])[:2]
    digits = _COUNTRY_PREFIX.sub("", re.sub(r"[\s\-()]", "", main))
    what = f"phone number {s!r} (联系电话)"
    ext = ext.strip()
    if ext and not re.fullmatch(r"[0-9]{1,6}", ext):
        raise ValueError(f"{what} has an invalid extension")
    if _MOBILE.fullmatch(digits) and not ext:
        return digits
    if len(digits) > 3 and digits[0] == "0" and digits[1] != "0":
        area_len = 3 if digits[1] in "12" else 4  # 010 and 02x are the 3-digit area codes
        area, number = digits[:area_len], digits[area_len:]
        if digits.isdigit() and re.fullmatch(r"[1-9][0-9]{6,7}", number):
            return f"{area}-{number}" + (f"-{ext}" if ext else "")
    raise ValueError(
        f"{what} is neither a mainland mobile number (11 digits starting 13–19) "
        "nor a landline with its area code (e.g. 0532-88776655)"
    )


def validate_mobile(s: str) -> str:
    """A mainland mobile number only (SMS recipients)."""
    phone = validate_phone(s)
    if not _MOBILE.fullmatch(phone):
        raise ValueError(f"SMS number {s!r} (短信号码) must be a mainland mobile number")
    return phone


def validate_device_id(s: str) -> str:
    """Terminal id as in contract §3: ``^[A-Za-z0-9_-]{1,32}$``."""
    device_id = _clean(s, "device id")
    if not _DEVICE_ID.fullmatch(device_id):
        raise ValueError(f"device id {s!r} (终端编号) must be 1–32 letters, digits, '_' or '-'")
    return device_id


def validate_http_url(s: str) -> str:
    url = _clean(s, "URL")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in url:
        raise ValueError(f"URL {s!r} (回调地址) must be an absolute http:// or https:// address")
    return url


def validate_email(s: str) -> str:
    email = _clean(s, "e-mail address")
    if not re.fullmatch(
        r"[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+",
        email,
    ):
        raise ValueError(f"e-mail address {s!r} (邮箱) is not valid")
    return email


def parse_date(s: str) -> date:
    """``2026-11-01``, ``2026/11/1``, ``2026.11.01``, ``2026年11月1日`` or ``20261101``."""
    text = _clean(s, "date")
    m = re.fullmatch(
        r"([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?"
        r"(?:[T ]00:00(?::00(?:\.0+)?)?)?",
        text,
    ) or re.fullmatch(r"([0-9]{4})([0-9]{2})([0-9]{2})", text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    raise ValueError(f"date {s!r} is not a valid date; write it as YYYY-MM-DD, e.g. 2026-11-30")


def validate_hhmm(s: str) -> str:
    """A local time of day ``HH:MM`` (``7:00`` → ``07:00``)."""
    m = re.fullmatch(r"([0-9]{1,2})[:：]([0-9]{2})", _clean(s, "time"))
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"time {s!r} must be HH:MM between 00:00 and 23:59")
    return f"{int(m[1]):02d}:{m[2]}"
