"""Bulk import through the API and the CLI, against real PostGIS: the per-row error report
(GBK CSV and XLSX), cross-checks against the database, all-or-nothing, skip-invalid,
413 for oversized files, formula cells."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import text

from keywatch.cli import main
from registry.validation import make_resident_id, make_vin

HEADER = "号牌号码,车辆识别代号,车辆类型,所属企业,辖区代码,终端编号,核准场所,准运证有效期"


def vin(n: int) -> str:
    return make_vin(f"LZZ1CLVB7HD{n:05d}")


def csv_file(*rows: str, header: str = HEADER, encoding: str = "gbk") -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode(encoding)


def xlsx_file(header: list[str], *rows: list[object]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def post(client, auth, kind: str, data: bytes, name: str = "f.csv", **form):
    return client.post(f"/api/v1/{kind}/import", headers=auth("admin"),
                       files={"file": (name, data)}, data=form)


def _plates(engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT plate FROM vehicles ORDER BY plate")).scalars().all()


GOOD = f"鲁B20001,{vin(20001)},渣土车,QD-MUCK-01,370202,t-2001,,2027-06-30"


def test_gbk_csv_report_names_row_column_value_reason(client, auth, city):
    data = csv_file(
        GOOD,
        f"鲁B2000,{vin(20002)},渣土车,QD-MUCK-01,370202,t-2002,,2027-06-30",  # bad plate
        f"鲁B20003,{vin(20003)},渣土车,NO-SUCH-CO,370202,t-2003,,2027-06-30",  # unknown company
        f"鲁B20004,{vin(20004)},渣土车,QD-MUCK-01,370202,t-2004,no-site,2027-06-30",  # bad ref
        f"鲁B20005,{vin(20005)},渣土车,QD-MUCK-01,370202,t-0001,,2027-06-30",  # terminal in use
        f"鲁B20001,{vin(20006)},渣土车,QD-MUCK-01,370202,t-2006,,2027-06-30",  # duplicate plate
    )
    response = post(client, auth, "vehicles", data)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["written"] is False and "nothing was imported" in body["error"]
    report = {(e["row"], e["column"]): e for e in body["errors"]}
    assert set(report) == {(3, "号牌号码"), (4, "所属企业"), (5, "核准场所"), (6, "终端编号"),
                           (7, "号牌号码")}
    assert report[(3, "号牌号码")]["value"] == "鲁B2000"
    assert "unknown or deactivated company" in report[(4, "所属企业")]["reason"]
    assert "unknown geofence ref 'no-site'" in report[(5, "核准场所")]["reason"]
    assert "鲁B00001" in report[(6, "终端编号")]["reason"]
    assert "same as row 2" in report[(7, "号牌号码")]["reason"]
    assert "鲁B20001" not in _plates(city)  # nothing half-written

    skipped = post(client, auth, "vehicles", data, skip_invalid="true")
    assert skipped.status_code == 200
    assert (skipped.json()["created"], skipped.json()["skipped"]) == (1, 5)
    assert "鲁B20001" in _plates(city)


def test_xlsx_import_upserts_by_plate(client, auth, city):
    header = HEADER.split(",") + ["状态"]
    first = xlsx_file(header, ["鲁B20001", vin(20001), "渣土车", "QD-MUCK-01", "370202",
                               "t-2001", "", date(2027, 6, 30), "正常"],
                      ["鲁B00003", vin(3), "渣土车", "QD-MUCK-01", "370202", "t-0003", "",
                       "2027-01-31", "停用"])
    response = post(client, auth, "vehicles", first, "vehicles.xlsx")
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"]) == (1, 1)
    suspended = client.get("/api/v1/vehicles/鲁B00003", headers=auth("admin")).json()
    assert (suspended["status"], suspended["permit_until"]) == ("suspended", "2027-01-31")
    formula = xlsx_file(header, ["鲁B20009", vin(20009), "渣土车", "=A1", "370202", "", "",
                                 "2027-06-30", "正常"])
    bad = post(client, auth, "vehicles", formula, "f.xlsx")
    assert bad.status_code == 422
    [error] = bad.json()["errors"]
    assert (error["row"], error["column"]) == (2, "所属企业") and "formula" in error["reason"]


def test_file_level_errors(client, auth, settings, city):
    wrong = csv_file(GOOD, encoding="utf-16-le")[2:]  # no BOM: neither UTF-8 nor GBK text
    response = post(client, auth, "vehicles", b"\xff\xfe\x00\x01" + wrong)
    assert response.status_code == 422 and "error" in response.json()
    unknown = post(client, auth, "vehicles", csv_file(GOOD, header=HEADER + ",颜色"))
    assert unknown.status_code == 422 and "颜色" in unknown.json()["error"]


def test_oversized_upload_is_413_with_the_limit(client, auth, settings, city):
    client.app.state.settings = settings.model_copy(update={"import_max_bytes": 100})
    try:
        response = post(client, auth, "vehicles", csv_file(GOOD, GOOD))
    finally:
        client.app.state.settings = settings
    assert response.status_code == 413
    assert "100 bytes" in response.json()["error"]


def test_drivers_and_companies_import(client, auth, city):
    licence = make_resident_id("370202", date(1980, 1, 2), 33)
    drivers = csv_file(f"{licence},李师傅,13912345678,QD-MUCK-01,渣土车驾驶员:2027-06-30",
                       header="驾驶证号,姓名,联系电话,所属企业,从业资格")
    response = post(client, auth, "drivers", drivers)
    assert response.status_code == 200, response.text
    got = client.get(f"/api/v1/drivers/{licence}", headers=auth("muck")).json()
    assert got["qualifications"][0]["kind"] == "muck_driver"
    bad = csv_file("QD-X,某公司,渣土运输企业,91370200MA3C5XXX0X",
                   header="企业编码,企业名称,企业类型,统一社会信用代码")
    refused = post(client, auth, "companies", bad)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["column"] == "统一社会信用代码"
    assert post(client, auth, "companies", bad, ).json()["written"] is False


def test_import_needs_admin(client, auth, city):
    response = client.post("/api/v1/vehicles/import", headers=auth("muck"),
                           files={"file": ("f.csv", csv_file(GOOD))})
    assert response.status_code == 403


def test_cli_import_prints_table_and_progress(settings, city, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KEYWATCH_DATABASE_URL", settings.database_url)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_file(GOOD, f"鲁B20003,{vin(20003)},渣土车,NO-SUCH-CO,370202,,,"))
    with pytest.raises(SystemExit) as exit_:
        main(["import", "vehicles", str(bad)])
    out = capsys.readouterr()
    assert exit_.value.code == 1
    assert "row" in out.out and "所属企业" in out.out and "NO-SUCH-CO" in out.out
    assert "nothing was imported" in out.err and "import vehicles:" in out.err
    assert "鲁B20001" not in _plates(city)
    with pytest.raises(SystemExit) as exit_:
        main(["import", "vehicles", str(bad), "--skip-invalid"])
    assert exit_.value.code == 0
    assert "1 created" in capsys.readouterr().out
    assert "鲁B20001" in _plates(city)
