"""Bulk-import files: format detection, header mapping and the per-row error report."""

from __future__ import annotations

import contextlib
import io
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.tabular import (
    ImportFileError,
    TooLarge,
    parse_rows,
    read_table,
)
from registry.validation import make_resident_id, make_vin

VIN1 = "1M8GDM9AXKP042788"
VIN2 = make_vin("LZZ1CLVB0AW12345")
HEADER = "号牌号码,车辆识别代号,车辆类型,所属企业,辖区代码,终端编号,核准路线,准运证有效期"
ROW1 = f"鲁B·12345,{VIN1},渣土车,QD-MUCK-01,370202,qd-0001,R1;R2,2026/12/31"
ROW2 = f"鲁B67890,{VIN2},校车,QD-SCHOOL-01,370203,qd-0002,,"


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return "\n".join(lines).encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_good_vehicles_csv() -> None:
    result = parse_rows("vehicles", csv_bytes(HEADER, ROW1, ROW2), filename="v.csv")
    assert result.ok and result.errors == []
    assert [r.row for r in result.rows] == [2, 3]
    first, second = result.records
    assert (first.plate, first.vehicle_class, first.routes) == (
        "鲁B12345",
        "muck_truck",
        ["R1", "R2"],
    )
    assert first.permit_until == date(2026, 12, 31)
    assert (second.vehicle_class, second.routes, second.permit_until) == ("school_bus", [], None)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_csv_encodings(encoding: str) -> None:
    result = parse_rows("vehicles", csv_bytes(HEADER, ROW1, encoding=encoding))
    assert result.ok
    assert result.records[0].plate == "鲁B12345"


def test_bom_does_not_leak_into_the_first_header() -> None:
    rows = read_table(csv_bytes(HEADER, ROW1, encoding="utf-8-sig"))
    assert next(iter(rows[0])) == "号牌号码"


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_delimiter_is_sniffed(delimiter: str) -> None:
    lines = [line.replace(",", delimiter) for line in (HEADER, ROW1)]
    lines[1] = lines[1].replace("R1;R2", "R1、R2")
    result = parse_rows("vehicles", csv_bytes(*lines))
    assert result.ok, result.report()
    assert result.records[0].routes == ["R1", "R2"]


def test_english_headers_are_case_and_space_insensitive() -> None:
    header = " Plate ,VIN,class,Company,Home District,Device ID,Status"
    row = f"鲁B12345,{VIN1},freight,QD-1,370202,qd-1,suspended"
    result = parse_rows("vehicles", csv_bytes(header, row))
    assert result.ok, result.report()
    assert result.records[0].status == "suspended"


def test_header_hints_and_required_markers_are_ignored() -> None:
    header = "*号牌号码（必填）,车辆识别代号,车辆类型,所属企业,辖区代码,准运证有效期(YYYY-MM-DD)"
    result = parse_rows("vehicles", csv_bytes(header, f"鲁B12345,{VIN1},货车,QD-1,370202,2027-1-5"))
    assert result.ok, result.report()
    assert result.records[0].permit_until == date(2027, 1, 5)


def test_all_errors_of_a_row_are_reported_and_the_row_is_left_out() -> None:
    bad = "鲁BI2345,1M8GDM9A1KP042788,拖拉机,,990202,bad id,,2026-02-30"
    result = parse_rows("vehicles", csv_bytes(HEADER, ROW1, bad))
    assert [r.row for r in result.rows] == [2]
    by_column = {e.column: e for e in result.errors}
    assert set(by_column) == {
        "号牌号码",
        "车辆识别代号",
        "车辆类型",
        "所属企业",
        "辖区代码",
        "终端编号",
        "准运证有效期",
    }
    assert all(e.row == 3 for e in result.errors)
    assert by_column["所属企业"].reason == "required value is missing"
    assert by_column["号牌号码"].value == "鲁BI2345"
    assert "letters I and O" in by_column["号牌号码"].reason
    assert by_column["车辆类型"].field == "vehicle_class"
    assert "row 3, 号牌号码 = '鲁BI2345'" in result.report()


def test_duplicates_are_errors_on_the_later_row_naming_the_first() -> None:
    again = f"鲁B12345,{make_vin('LZZ1CLVB0AW99999')},渣土车,QD-MUCK-01,370202,qd-0009,,"
    result = parse_rows("vehicles", csv_bytes(HEADER, ROW1, ROW2, again))
    assert [r.row for r in result.rows] == [2, 3]
    (error,) = result.errors
    assert (error.row, error.column, error.value) == (4, "号牌号码", "鲁B12345")
    assert error.reason == "duplicate plate: same as row 2"


def test_duplicate_device_and_vin_are_errors_too() -> None:
    other = f"鲁B55555,{VIN1},渣土车,QD-MUCK-01,370202,qd-0001,,"
    result = parse_rows("vehicles", csv_bytes(HEADER, ROW1, other))
    assert {(e.row, e.field) for e in result.errors} == {(3, "vin"), (3, "device_id")}


def test_blank_rows_keep_row_numbers_and_trailing_blanks_are_ignored() -> None:
    result = parse_rows("vehicles", csv_bytes(HEADER, ROW1, ",,,,,,,", ROW2, "", ",,,", ""))
    assert result.ok
    assert [r.row for r in result.rows] == [2, 4]


def test_unknown_and_missing_columns_are_one_file_error() -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_rows("vehicles", csv_bytes("号牌号码,颜色", "鲁B12345,红"))
    problems = caught.value.problems
    assert problems[0] == (
        "missing required columns: 车辆识别代号 (vin), 车辆类型 (vehicle_class), "
        "所属企业 (company), 辖区代码 (home_district)"
    )
    assert problems[1].startswith("unknown column '颜色'; accepted columns: 号牌号码 (plate)")
    assert len(problems) == 2


def test_two_columns_meaning_the_same_field_are_refused() -> None:
    with pytest.raises(ImportFileError, match="both mean plate"):
        parse_rows("vehicles", csv_bytes(HEADER + ",车牌号", ROW1 + ",鲁B12345"))


def test_values_without_a_header_are_refused() -> None:
    with pytest.raises(ImportFileError, match="column 9 has values but no header"):
        parse_rows("vehicles", csv_bytes(HEADER, ROW1 + ",extra"))


def test_oversized_input_names_the_limit() -> None:
    with pytest.raises(TooLarge, match="the limit is 100 bytes"):
        parse_rows("vehicles", csv_bytes(HEADER, ROW1), max_bytes=100)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes(range(256)) * 4, "neither an .xlsx workbook nor a CSV text file"),
        (b"\xff\xfe\xfd\x80\x81" * 50, "neither an .xlsx workbook nor a CSV text file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "neither an .xlsx workbook nor a CSV"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old Excel .xls"),
        (b"PK\x03\x04garbage", "damaged"),
        (b"", "empty"),
        (b"\n\n", "empty"),
    ],
)
def test_garbage_is_a_clear_file_error(data: bytes, reason: str) -> None:
    with pytest.raises(ImportFileError, match=reason):
        parse_rows("vehicles", data)


def test_a_zip_that_is_not_a_workbook_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(ImportFileError, match="not an Excel .xlsx workbook"):
        read_table(buffer.getvalue(), filename="vehicles.docx")


def test_xlsx_with_dates_numbers_and_a_formula() -> None:
    data = xlsx_bytes(
        [
            ["号牌号码", "车辆识别代号", "车辆类型", "所属企业", "辖区代码", "准运证有效期"],
            ["鲁B12345", VIN1, "渣土车", "QD-MUCK-01", 370202, datetime(2026, 12, 31)],
            ["鲁B67890", VIN2, "校车", "QD-SCHOOL-01", "=370000+203", date(2027, 1, 15)],
            [None, None, None, None, None, None],
        ]
    )
    table = read_table(data)
    assert table[0]["辖区代码"] == "370202"
    assert table[0]["准运证有效期"] == "2026-12-31"
    assert len(table) == 2  # the trailing blank row is ignored
    result = parse_rows("vehicles", data, filename="vehicles.xlsx")
    assert [r.row for r in result.rows] == [2]
    assert result.records[0].permit_until == date(2026, 12, 31)
    (error,) = result.errors
    assert (error.row, error.column, error.value) == (3, "辖区代码", "=370000+203")
    assert error.reason.startswith("formula cells are not accepted")


def test_drivers_with_qualifications() -> None:
    rid1 = make_resident_id("370202", date(1980, 5, 17), 11)
    rid2 = make_resident_id("370203", date(1992, 8, 2), 22)
    data = csv_bytes(
        "驾驶证号,姓名,联系电话,所属企业,从业资格",
        f'{rid1},王师傅,13912345678,QD-HAZ-01,"危险货物运输驾驶员:2027-06-30；押运员（2026-12-31）"',
        f"{rid2},李师傅,0532-88776655,QD-HAZ-01,",
        f"{rid1},王师傅,,,",
        f"{rid2[:-1]}0,赵,,,校车驾驶人",
        encoding="gbk",
    )
    result = parse_rows("drivers", data)
    assert [r.row for r in result.rows] == [2, 3]
    quals = result.records[0].qualifications
    assert [(q.kind, q.expires) for q in quals] == [
        ("hazmat_driver", date(2027, 6, 30)),
        ("hazmat_escort", date(2026, 12, 31)),
    ]
    assert [(e.row, e.field) for e in result.errors] == [
        (4, "licence_no"),
        (5, "licence_no"),
        (5, "qualifications"),
    ]
    assert "same as row 2" in result.errors[0].reason
    assert "kind:expiry date" in result.errors[2].reason


def test_companies() -> None:
    data = csv_bytes(
        "企业编码,企业名称,企业类型,统一社会信用代码,联系人,联系电话,回调地址,邮箱,短信号码",
        "QD-MUCK-01,青岛渣土运输有限公司,渣土运输企业,91350100M000100Y43,张经理,0532-88776655,"
        "https://hooks.example.cn/kw,ops@example.cn,13912345678",
        "QD-MUCK-02,另一家,渣土运输企业,91350100M000100Y43,,,,,",
    )
    result = parse_rows("companies", data)
    assert result.records[0].kind == "muck_transport"
    (error,) = result.errors
    assert (error.row, error.field) == (3, "licence_no")
    assert error.reason == "duplicate licence_no: same as row 2"


def test_inspections() -> None:
    header = (
        "号牌号码,排查日期,排查人,制动,灯光,篷布,尾板,卫星定位终端,行驶记录仪,轮胎,限载装置,"
        "隐患,整改期限,整改状态,照片"
    )
    data = csv_bytes(
        header,
        "鲁B12345,2026-11-03,张三,合格,不合格,✓,✗,是,否,pass,1,灯光损坏,2026-11-10,未整改,a.jpg;b.jpg",
        "鲁B12345,2026-11-04,张三,合格,合格,合格,合格,合格,合格,合格,合格,,,,",
        "鲁B·12345,2026/11/3,李四,合格,合格,合格,合格,合格,合格,合格,合格,,,,",
        "鲁B67890,2026-11-03,李四,也许,合格,合格,合格,合格,合格,合格,合格,,,已整改,",
    )
    result = parse_rows("inspections", data)
    assert [r.row for r in result.rows] == [2, 3]
    first = result.records[0]
    assert (first.brakes, first.lights, first.load_limiter) == (True, False, True)
    assert first.photos == ["a.jpg", "b.jpg"]
    assert first.rectification_status == "pending"
    assert [(e.row, e.field) for e in result.errors] == [(4, "plate"), (5, "brakes")]
    assert result.errors[0].reason == "duplicate plate and date: same as row 2"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown import kind 'officers'"):
        parse_rows("officers", csv_bytes(HEADER))


def test_a_workbook_that_unpacks_far_beyond_the_limit_is_too_large() -> None:
    data = xlsx_bytes([["号牌号码"], ["a" * 30_000], ["b" * 30_000], ["c" * 30_000]])
    with pytest.raises(TooLarge, match=f"more than {len(data) * 10} bytes"):
        read_table(data, max_bytes=len(data))


def handmade_xlsx(sheet_rows: str, *, date1904: bool = False) -> bytes:
    """A workbook as Excel/WPS write it: shared strings, styles with a custom date format."""
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    kinds = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "xl/workbook.xml": f"<workbook {main} {rel}><workbookPr"
        + (' date1904="1"' if date1904 else "")
        + '/><sheets><sheet name="车辆" sheetId="1" r:id="rId7"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId7" Type="{kinds}/worksheet" Target="worksheets/data.xml"/>'
            f'<Relationship Id="rId8" Type="{kinds}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId9" Type="{kinds}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/sharedStrings.xml": (
            f"<sst {main}><si><t>号牌号码</t></si><si><t>准运证有效期</t></si>"
            "<si><r><t>鲁B</t></r><r><rPr><b/></rPr><t>12345</t></r>"
            '<rPh><t>ルビ</t></rPh></si><si><t xml:space="preserve"> 渣土车 </t></si></sst>'
        ),
        "xl/styles.xml": (
            f'<styleSheet {main}><numFmts count="1"><numFmt numFmtId="176" '
            'formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/></numFmts>'
            '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="176"/><xf numFmtId="14"/>'
            "</cellXfs></styleSheet>"
        ),
        "xl/worksheets/data.xml": (
            f"<worksheet {main}><sheetData>{sheet_rows}</sheetData></worksheet>"
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_workbook_with_shared_strings_styles_and_odd_cells() -> None:
    rows = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
        '<c r="C1" t="inlineStr"><is><t>车辆类型</t></is></c><c r="D1"><v>1</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" s="1"><v>46022</v></c>'
        '<c r="C2" t="s"><v>3</v></c><c r="D2" t="b"><v>1</v></c></row>'
        '<row r="4"><c r="B4" s="2"><v>46023.5</v></c><c r="D4"><f t="shared" si="0"/>'
        "<v>2</v></c></row>"
        '<row><c><v>1.5</v></c><c t="e"><v>#N/A</v></c><c><v>1.3912345678E10</v></c></row>'
    )
    table = read_table(handmade_xlsx(rows))
    assert list(table[0]) == ["号牌号码", "准运证有效期", "车辆类型", "1"]
    assert table[0] == {
        "号牌号码": "鲁B12345",
        "准运证有效期": "2025-12-31",
        "车辆类型": "渣土车",
        "1": "true",
    }
    assert table[1] == {"号牌号码": "", "准运证有效期": "", "车辆类型": "", "1": ""}  # row 3
    assert table[2]["准运证有效期"] == "2026-01-01T12:00:00"
    assert table[2]["1"] == "="  # a shared formula is still a formula
    assert table[3] == {
        "号牌号码": "1.5",
        "准运证有效期": "#N/A",
        "车辆类型": "13912345678",
        "1": "",
    }


def test_1904_date_system() -> None:
    rows = (
        '<row r="1"><c r="A1" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2" s="1"><v>44560</v></c></row>'
    )
    assert read_table(handmade_xlsx(rows, date1904=True)) == [{"准运证有效期": "2025-12-31"}]


@pytest.mark.parametrize(
    "sheet_rows",
    [
        '<row r="1"><c r="A1" t="s"><v>99</v></c></row>',  # shared string that does not exist
        '<row r="x"><c r="A1"><v>1</v></c></row>',
        '<row r="1"><c r="A1"><v>abc</v></c></row>',
        '<row r="1"><c r="A1"><v>1</v></c>',  # truncated XML
        '<row r="1"><c r="XFD1"><v>1</v></c></row>',  # absurdly wide
        '<row r="999999999"><c r="A1"><v>1</v></c></row>',  # absurdly tall
    ],
)
def test_damaged_workbooks_are_a_file_error(sheet_rows: str) -> None:
    with pytest.raises(ImportFileError, match="not a readable .xlsx workbook"):
        read_table(handmade_xlsx(sheet_rows))


def test_file_errors_belong_to_the_keywatch_hierarchy() -> None:
    from keywatch import errors

    assert issubclass(ImportFileError, errors.Invalid)
    assert issubclass(TooLarge, errors.TooLarge)


def test_a_header_only_file_imports_nothing() -> None:
    result = parse_rows("vehicles", csv_bytes(HEADER))
    assert result.ok and result.rows == []


def test_a_formula_header_is_refused() -> None:
    with pytest.raises(ImportFileError, match="column 2: the header is a formula"):
        read_table(xlsx_bytes([["号牌号码", '="VIN"'], ["鲁B12345", VIN1]]))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_escape_as_anything_but_a_file_error(data: bytes) -> None:
    try:
        result = parse_rows("drivers", data)
    except ImportFileError:
        return
    assert all(e.row >= 2 for e in result.errors)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4000), st.binary(min_size=1, max_size=8))
def test_corrupted_workbooks_are_a_file_error(position: int, junk: bytes) -> None:
    data = bytearray(
        xlsx_bytes([["号牌号码", "排查日期", "排查人"], ["鲁B12345", "2026-11-03", "张三"]])
    )
    position %= len(data)
    data[position : position + len(junk)] = junk
    with contextlib.suppress(ImportFileError):
        parse_rows("inspections", bytes(data))


def test_cross_field_errors_land_on_their_column() -> None:
    data = csv_bytes("号牌号码,排查日期,排查人,整改期限", "鲁B12345,2026-11-03,张三,2026-11-01")
    (error,) = parse_rows("inspections", data).errors
    assert (error.row, error.column, error.value) == (2, "整改期限", "2026-11-01")
    assert error.reason == "rectification deadline (整改期限) is before the inspection date"


def test_template_headers_round_trip() -> None:
    from registry.headers import IMPORT_SPECS, template_headers

    assert template_headers("vehicles")[:3] == ["号牌号码", "车辆识别代号", "车辆类型"]
    for kind in IMPORT_SPECS:
        result = parse_rows(kind, ",".join(template_headers(kind)).encode("gbk"))
        assert result.ok and result.rows == []
