"""A lean streaming reader for the first worksheet of an .xlsx workbook.

Why not openpyxl's read-only mode: it builds an object per cell and parses
inline strings (what openpyxl itself writes) through its descriptor machinery,
about 18 s for 40,000 rows × 11 columns; this reader does the same in about
3 s. It returns cell text only; formulas are never evaluated — a cell holding
one comes back as ``FormulaCell``. openpyxl still decides which number formats
are dates and converts Excel serial dates.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from xml.etree.ElementTree import Element, fromstring, iterparse

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel


class FormulaCell(str):
    """Text of a worksheet cell that held a formula; formulas are never evaluated."""


class WorkbookError(ValueError):
    """The archive is not a workbook this reader understands."""


def _local(tag: str) -> str:
    """Tag without its namespace: transitional and strict OOXML use different ones."""
    return tag.rpartition("}")[2]


def _children(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element if _local(child.tag) == name)


def read_first_sheet(archive: zipfile.ZipFile) -> list[list[str]]:
    """Every row of the first worksheet, in order; missing rows come back as ``[]``."""
    sheet_path, targets, date1904 = _workbook(archive)
    shared = _shared_strings(archive, targets.get("sharedStrings"))
    date_styles = _date_styles(archive, targets.get("styles"))
    epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
    rows: list[list[str]] = []
    with archive.open(sheet_path) as source:
        for _event, element in iterparse(source):
            if _local(element.tag) != "row":
                continue
            number = int(element.get("r") or len(rows) + 1)
            if number > _MAX_ROWS:
                raise WorkbookError(f"the sheet uses more than {_MAX_ROWS} rows")
            rows.extend([] for _ in range(number - 1 - len(rows)))
            rows.append(_row_cells(element, shared, date_styles, epoch))
            element.clear()
    return rows


def _workbook(archive: zipfile.ZipFile) -> tuple[str, dict[str, str], bool]:
    """The first sheet's part name, the workbook's other parts by type, and the 1904 flag."""
    names = set(archive.namelist())
    if "xl/workbook.xml" not in names:
        raise WorkbookError("the archive has no xl/workbook.xml")
    root = _parse(archive, "xl/workbook.xml")
    sheet = next((el for el in root.iter() if _local(el.tag) == "sheet"), Element("sheet"))
    properties = next((el for el in root.iter() if _local(el.tag) == "workbookPr"), None)
    date1904 = properties is not None and properties.get("date1904") in ("1", "true")
    rel_id = next((v for k, v in sheet.attrib.items() if _local(k) == "id"), None)
    by_id, by_type = _relationships(archive) if "xl/_rels/workbook.xml.rels" in names else ({}, {})
    sheet_path = by_id.get(rel_id or "", "xl/worksheets/sheet1.xml")
    if sheet_path not in names:
        raise WorkbookError("the workbook has no worksheet")
    return sheet_path, {k: v for k, v in by_type.items() if v in names}, date1904


def _relationships(archive: zipfile.ZipFile) -> tuple[dict[str, str], dict[str, str]]:
    """The workbook's parts by relationship id and by type (``styles``, ``sharedStrings``)."""
    by_id, by_type = {}, {}
    for rel in _parse(archive, "xl/_rels/workbook.xml.rels"):
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        path = posixpath.normpath(path)
        by_id[rel.get("Id", "")] = path
        by_type[rel.get("Type", "").rpartition("/")[2]] = path
    return by_id, by_type


def _parse(archive: zipfile.ZipFile, name: str) -> Element:
    """A small part (workbook, relationships, styles) as a tree; the archive size is capped."""
    return fromstring(archive.read(name))


def _shared_strings(archive: zipfile.ZipFile, path: str | None) -> list[str]:
    strings: list[str] = []
    if path is None:
        return strings
    with archive.open(path) as source:
        for _event, element in iterparse(source):
            if _local(element.tag) == "si":
                strings.append(_string_item(element))
                element.clear()
    return strings


def _string_item(element: Element) -> str:
    """Text of a shared or inline string: plain ``<t>`` or rich-text runs, minus phonetics."""
    parts = []
    for child in element:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in _children(child, "t"))
    return "".join(parts)


def _date_styles(archive: zipfile.ZipFile, path: str | None) -> frozenset[int]:
    """Indices of the cell styles whose number format shows a date or time."""
    if path is None:
        return frozenset()
    root = _parse(archive, path)
    formats: dict[int, str] = dict(BUILTIN_FORMATS)
    for fmt in (el for el in root.iter() if _local(el.tag) == "numFmt"):
        formats[int(fmt.get("numFmtId", "0"))] = fmt.get("formatCode", "")
    cell_xfs = next((el for el in root.iter() if _local(el.tag) == "cellXfs"), None)
    if cell_xfs is None:
        return frozenset()
    return frozenset(
        index
        for index, xf in enumerate(_children(cell_xfs, "xf"))
        if is_date_format(formats.get(int(xf.get("numFmtId", "0")), ""))
    )


_COLUMN = re.compile(r"[A-Z]+")
_MAX_ROWS = 1_048_576  # Excel's own limit; a larger row number would only waste memory
_MAX_COLUMNS = 1024  # an import sheet has a dozen; a far-right cell would inflate every row


def _column_index(reference: str) -> int:
    index = 0
    for letter in _COLUMN.match(reference)[0]:  # type: ignore[index]
        index = index * 26 + ord(letter) - 64
    return index - 1


def _row_cells(
    row: Element, shared: list[str], date_styles: frozenset[int], epoch: datetime
) -> list[str]:
    cells: list[str] = []
    for cell in row:
        if _local(cell.tag) != "c":
            continue
        reference = cell.get("r")
        index = _column_index(reference) if reference else len(cells)
        if index >= _MAX_COLUMNS:
            raise WorkbookError(f"the sheet uses more than {_MAX_COLUMNS} columns")
        cells.extend("" for _ in range(index - len(cells)))
        cells.append(_cell_text(cell, shared, date_styles, epoch))
    return cells


def _cell_text(
    cell: Element, shared: list[str], date_styles: frozenset[int], epoch: datetime
) -> str:
    kind = cell.get("t", "n")
    value = formula = None
    for child in cell:
        name = _local(child.tag)
        if name == "v":
            value = child.text
        elif name == "f":
            formula = child.text or ""
        elif name == "is":
            value = _string_item(child)
    if formula is not None:
        return FormulaCell("=" + formula)
    if value is None:
        return ""
    if kind == "s":
        return shared[int(value)].strip()
    if kind == "b":
        return "true" if value == "1" else "false"
    if kind == "n":
        return _number_text(value, int(cell.get("s", "0")) in date_styles, epoch)
    if kind == "d":
        return value.removesuffix("Z").removesuffix("T00:00:00")
    return value.strip()  # inlineStr, str (a formula's cached text), e (an error such as #N/A)


def _number_text(value: str, is_date: bool, epoch: datetime) -> str:
    number = float(value)
    if is_date:
        moment = from_excel(number, epoch)
        if isinstance(moment, datetime):
            return moment.date().isoformat() if moment.time() == time() else moment.isoformat()
        if isinstance(moment, time):
            return moment.strftime("%H:%M" if moment.second == 0 else "%H:%M:%S")
        if isinstance(moment, timedelta):
            return str(moment)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)
