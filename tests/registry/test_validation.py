"""The registry's pure validators: plates, VINs, ID numbers, credit codes, phones."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.validation import (
    make_resident_id,
    make_uscc,
    make_vin,
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


@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        ("鲁B·12345", "鲁B12345"),
        ("鲁b12345", "鲁B12345"),
        (" 鲁Ｂ１２３４５ ", "鲁B12345"),  # full-width letters and digits
        ("鲁B 123 45", "鲁B12345"),
        ("鲁B.12345", "鲁B12345"),
        ("京A•3X7K9", "京A3X7K9"),
        ("京AD12345", "京AD12345"),  # small new-energy, pure electric
        ("粤BFA1234", "粤BFA1234"),  # small new-energy, other, letter in 2nd place
        ("沪A12345D", "沪A12345D"),  # large new-energy
        ("鲁B1234挂", "鲁B1234挂"),  # trailer
        ("鲁B1234学", "鲁B1234学"),  # driving-school coach
        ("鲁B1234警", "鲁B1234警"),
        ("沪A1234领", "沪A1234领"),
        ("粤Z1234港", "粤Z1234港"),
        ("粤Z·A123澳", "粤ZA123澳"),
        ("使014578", "使014578"),
    ],
)
def test_plates_are_normalised(raw: str, plate: str) -> None:
    assert normalise_plate(raw) == plate


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("鲁BI2345", "letters I and O"),
        ("鲁B1234O", "letters I and O"),
        ("X B12345", "not a province abbreviation"),
        ("A鲁12345", "not a province abbreviation"),
        ("鲁B1234", "6 characters"),
        ("鲁B123456789", "11 characters"),
        ("鲁112345", "issuing-authority letter"),
        ("鲁BD1234A", "new-energy"),  # 8 characters but neither NEV layout
        ("鲁BZ12345", "new-energy"),  # small NEV must start with an energy letter
        ("京A1234港", "expected e.g."),  # 港 only with 粤Z
        ("鲁B12#45", "expected e.g."),
        ("", "empty"),
        ("·", "empty"),
    ],
)
def test_bad_plates_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_plate(raw)


def test_plate_must_be_text() -> None:
    with pytest.raises(ValueError, match="must be text"):
        normalise_plate(12345)  # type: ignore[arg-type]


def test_real_vin_with_x_check_digit_is_valid() -> None:
    assert validate_vin("1M8GDM9AXKP042788") == "1M8GDM9AXKP042788"
    assert validate_vin(" 1m8gdm9axkp042788 ") == "1M8GDM9AXKP042788"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1M8GDM9A1KP042788", "check digit: position 9 is '1', expected 'X'"),
        ("1M8GDM9AXKP04278", "16 characters"),
        ("1M8GDM9AXKP0427880", "18 characters"),
        ("1M8GDM9AXKO042788", "I, O or Q"),
        ("1M8GDM9AXKP04278!", "cannot hold"),
    ],
)
def test_bad_vins_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_vin(raw)


def test_make_vin_computes_the_check_digit() -> None:
    assert make_vin("1M8GDM9AKP042788") == "1M8GDM9AXKP042788"
    assert validate_vin(make_vin("LSVAM4187C218484")) == make_vin("LSVAM4187C218484")
    with pytest.raises(ValueError):
        make_vin("LSVAM4187C21848")


@given(st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=16, max_size=16))
def test_every_made_vin_validates(body: str) -> None:
    assert validate_vin(make_vin(body))[9:] == body[8:]


def test_resident_id_generated_and_checked() -> None:
    rid = make_resident_id("370202", date(1990, 1, 1), 123)
    assert rid == "370202199001011237"
    assert validate_resident_id(rid) == rid
    lower_x = make_resident_id("110105", date(1985, 6, 30), 7)
    assert validate_resident_id(lower_x.lower()) == lower_x


def test_resident_id_with_x_check_character() -> None:
    rid = next(
        make_resident_id("370202", date(1980, 5, 17), seq)
        for seq in range(1000)
        if make_resident_id("370202", date(1980, 5, 17), seq).endswith("X")
    )
    assert validate_resident_id(rid.lower()) == rid


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("370202199001011238", "check character"),
        ("370202199002301234", "impossible birth date 19900230"),
        ("370202189001011234", "implausible birth date"),
        ("990202199001011234", "not a province code"),
        ("370202900101123", "old 15-digit"),
        ("37020219900101123A", "17 digits followed by a digit or X"),
    ],
)
def test_bad_resident_ids_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_resident_id(raw)


def test_resident_id_born_in_the_future_is_refused() -> None:
    rid = make_resident_id("370202", date.today() + timedelta(days=1), 1)
    with pytest.raises(ValueError, match="implausible birth date"):
        validate_resident_id(rid)
    born_2030 = make_resident_id("370202", date(2030, 1, 1), 1)
    assert validate_resident_id(born_2030, today=date(2030, 1, 1)) == born_2030
    with pytest.raises(ValueError, match="implausible birth date"):
        validate_resident_id(born_2030, today=date(2029, 12, 31))


@given(
    st.dates(min_value=date(1930, 1, 1), max_value=date(2005, 12, 31)),
    st.integers(0, 999),
    st.integers(0, 16),
    st.integers(1, 9),
)
def test_any_single_digit_typo_in_an_id_is_caught(
    born: date, seq: int, position: int, delta: int
) -> None:
    rid = make_resident_id("370202", born, seq)
    typo = rid[:position] + str((int(rid[position]) + delta) % 10) + rid[position + 1 :]
    with pytest.raises(ValueError):
        validate_resident_id(typo)


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000802100433B", "91440300708461136T"])
def test_real_credit_codes_are_valid(code: str) -> None:
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("91350100M000100Y44", "check character"),
        ("91350100M000100Y4", "17 characters"),
        ("91350100M00010OY43", "cannot hold: O"),
    ],
)
def test_bad_credit_codes_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_uscc(raw)


def test_make_uscc_appends_the_check_character() -> None:
    assert make_uscc("91350100M000100Y4") == "91350100M000100Y43"


def test_district_codes() -> None:
    assert validate_district_code("370202") == "370202"
    with pytest.raises(ValueError, match="6 digits"):
        validate_district_code("37020")
    with pytest.raises(ValueError, match="not a province code"):
        validate_district_code("000000")


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("13912345678", "13912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("0086-19912345678", "19912345678"),
        ("8613912345678", "13912345678"),
        ("0532-88776655", "0532-88776655"),
        ("(0532) 8877 6655", "0532-88776655"),
        ("01088776655", "010-88776655"),
        ("021-6123456", "021-6123456"),
        ("0532-88776655转123", "0532-88776655-123"),
    ],
)
def test_phones_are_normalised(raw: str, phone: str) -> None:
    assert validate_phone(raw) == phone


@pytest.mark.parametrize(
    "raw", ["12912345678", "1391234567", "88776655", "0532-0877665", "abc", "0", "0-", "", "转1"]
)
def test_bad_phones_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="neither a mainland mobile"):
        validate_phone(raw)


def test_sms_numbers_must_be_mobile() -> None:
    assert validate_mobile("13912345678") == "13912345678"
    with pytest.raises(ValueError, match="mobile"):
        validate_mobile("0532-88776655")


def test_device_ids_follow_the_contract() -> None:
    assert validate_device_id("qd-0001") == "qd-0001"
    assert validate_device_id("A" * 32) == "A" * 32
    for bad in ["", "A" * 33, "qd 0001", "qd/0001", "设备1"]:
        with pytest.raises(ValueError, match="1–32"):
            validate_device_id(bad)


def test_urls_emails_dates_and_times() -> None:
    assert validate_http_url("https://example.com/hook") == "https://example.com/hook"
    for bad in ["ftp://example.com", "example.com/hook", "http://", "javascript:alert(1)"]:
        with pytest.raises(ValueError, match="http"):
            validate_http_url(bad)
    assert validate_email("ops@example.cn") == "ops@example.cn"
    with pytest.raises(ValueError, match="e-mail"):
        validate_email("ops@@example")
    for text in ["2026-11-01", "2026/11/1", "2026.11.01", "2026年11月1日", "20261101"]:
        assert parse_date(text) == date(2026, 11, 1)
    assert parse_date("2026-11-01 00:00:00") == date(2026, 11, 1)
    for bad in ["2026-02-30", "01/11/2026", "tomorrow"]:
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            parse_date(bad)
    assert validate_hhmm("7:05") == "07:05"
    with pytest.raises(ValueError, match="HH:MM"):
        validate_hhmm("24:00")


_VALIDATORS = [
    normalise_plate,
    validate_vin,
    validate_resident_id,
    validate_uscc,
    validate_district_code,
    validate_phone,
    validate_mobile,
    validate_device_id,
    validate_http_url,
    validate_email,
    parse_date,
    validate_hhmm,
]


@given(st.text(alphabet="鲁京粤使挂学港0123456789ABDFXIOZabx·-()+#转:：/年月日 \t", max_size=24))
def test_validators_only_ever_raise_value_error(text: str) -> None:
    # pydantic turns ValueError into a field error; anything else would be a 500
    for validator in _VALIDATORS:
        with contextlib.suppress(ValueError):
            validator(text)
