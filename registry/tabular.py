"""Bulk-import files (CSV or XLSX) → validated registry rows with a per-row error report.

``read_table`` turns bytes into rows of text keyed by the file's own headers;
``parse_rows`` maps the headers (Chinese or English) onto a schema, validates
every row and reports every problem, so the caller can refuse the whole file
(all-or-nothing) or, when asked, keep only the good rows. No database here.
Problems with the file itself (size, encoding, headers) raise ``ImportFileError``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from pydantic import BaseModel, ValidationError

from keywatch.errors import Invalid
from keywatch.errors import TooLarge as PayloadTooLarge
from registry.headers import IMPORT_SPECS, ImportSpec, fold_header
from registry.xlsx import FormulaCell, WorkbookError, read_first_sheet

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_MAX_XLSX_EXPANSION = 10  # an XLSX may unpack to this multiple of max_bytes (zip bombs)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# What a damaged or hostile workbook can make the zip, zlib, XML or number parsing raise.
_BROKEN_WORKBOOK = (
    WorkbookError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ElementTree.ParseError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    OverflowError,
    NotImplementedError,  # unknown compression method or zip version
    RuntimeError,  # encrypted (password-protected) workbook
)
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ImportFileError(Invalid, ValueError):
    """The file as a whole cannot be imported (→ 422); ``problems`` lists every reason."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(problems))


class TooLarge(PayloadTooLarge, ImportFileError):
    """The input exceeds the size limit named in the message (→ 413)."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1-based spreadsheet row; the header is row 1
    column: str  # the column's header as written in the file ("" for the row as a whole)
    value: str
    reason: str
    field: str = ""  # the schema field, e.g. "plate"


@dataclass(frozen=True, slots=True)
class ImportedRow:
    row: int
    record: Any  # the schema model: VehicleIn, DriverIn, CompanyIn or InspectionRowIn


@dataclass(slots=True)
class ImportResult:
    kind: str
    rows: list[ImportedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def records(self) -> list[Any]:
        return [r.record for r in self.rows]

    def report(self) -> str:
        """The error report as plain text lines, one problem per line."""
        return "\n".join(
            f"row {e.row}, {e.column or 'row'}"
            + (f" = {e.value!r}" if e.value else "")
            + f": {e.reason}"
            for e in self.errors
        )


@dataclass(slots=True)
class Sheet:
    header: list[str]
    rows: list[list[str]]  # data rows in order; rows[i] is spreadsheet row i + 2


def read_table(
    data: bytes, *, filename: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[dict[str, str]]:
    """Rows of a CSV or XLSX file as ``{header: text}``; blank rows in the middle stay as
    all-empty dicts so that ``rows[i]`` is spreadsheet row ``i + 2``."""
    sheet = read_sheet(data, filename=filename, max_bytes=max_bytes)
    return [dict(zip(sheet.header, cells, strict=True)) for cells in sheet.rows]


def read_sheet(
    data: bytes, *, filename: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Sheet:
    """Detect the format by content (XLSX is a zip with ``xl/`` parts; else CSV) and read it."""
    name = f"{filename!r}" if filename else "the file"
    if len(data) > max_bytes:
        raise TooLarge(f"{name} is {len(data)} bytes; the limit is {max_bytes} bytes")
    if data.startswith(b"PK\x03\x04"):
        grid = _xlsx_grid(data, name, max_bytes)
    elif data.startswith(_OLE_MAGIC):
        raise ImportFileError(f"{name} is an old Excel .xls workbook; save it as .xlsx or CSV")
    else:
        grid = _csv_grid(_decode(data, name))
    return _to_sheet(grid, name)


def _xlsx_grid(data: bytes, name: str, max_bytes: int) -> list[list[str]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
            if not any(p.filename.startswith("xl/") for p in parts):
                raise ImportFileError(f"{name} is a ZIP archive but not an Excel .xlsx workbook")
            # zipfile never inflates a part beyond its declared size, so this bounds the work
            limit = max_bytes * _MAX_XLSX_EXPANSION
            if sum(p.file_size for p in parts) > limit:
                raise TooLarge(
                    f"{name} unpacks to more than {limit} bytes, the limit for a workbook"
                )
            return read_first_sheet(archive)
    except ImportFileError:
        raise
    except zipfile.BadZipFile as exc:
        raise ImportFileError(f"{name} looks like a ZIP/XLSX file but is damaged") from exc
    except _BROKEN_WORKBOOK as exc:
        raise ImportFileError(f"{name} is not a readable .xlsx workbook: {exc}") from exc


def _decode(data: bytes, name: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)  # Excel's "Unicode text" export
    elif data.startswith(codecs.BOM_UTF8):
        encodings = ("utf-8-sig",)
    else:
        encodings = ("utf-8", "gb18030")  # UTF-8 strictly first: GB18030 accepts more
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _BINARY.search(text) or not _plausible_header(text):
            break
        return text
    raise ImportFileError(
        f"{name} is neither an .xlsx workbook nor a CSV text file in UTF-8 or GBK/GB18030"
    )


def _plausible_header(text: str) -> bool:
    """Random bytes can decode as GB18030 or UTF-16; real headers are printable text."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    return first_line.replace("\t", "").isprintable()


def _csv_grid(text: str) -> list[list[str]]:
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return [[cell.strip() for cell in row] for row in reader]
    except csv.Error as exc:
        raise ImportFileError(f"the CSV text is malformed: {exc}") from exc


def _to_sheet(grid: list[list[str]], name: str) -> Sheet:
    while grid and not any(grid[-1]):
        grid.pop()
    if not grid:
        raise ImportFileError(f"{name} is empty: the first row must hold the column headers")
    header, body = grid[0], grid[1:]
    width = max(len(row) for row in grid)
    kept, problems = [], []
    for i in range(width):
        title = header[i] if i < len(header) else ""
        used = any(i < len(row) and row[i] for row in body)
        if title and isinstance(title, FormulaCell):
            problems.append(f"column {i + 1}: the header is a formula")
        elif title:
            kept.append(i)
        elif used:
            problems.append(f"column {i + 1} has values but no header")
    seen: dict[str, str] = {}
    for i in kept:
        if fold_header(header[i]) in seen:
            problems.append(f"column {header[i]!r} appears twice")
        seen.setdefault(fold_header(header[i]), header[i])
    if problems:
        raise ImportFileError(*problems)
    rows = [[row[i] if i < len(row) else "" for i in kept] for row in body]
    return Sheet(header=[header[i] for i in kept], rows=rows)


def parse_rows(
    kind: str, data: bytes, *, filename: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> ImportResult:
    """Validate every row of an import file of ``kind`` (vehicles, drivers, companies,
    inspections). Header problems raise ``ImportFileError``; row problems are all in
    ``errors``, and only rows without any problem are in ``rows``."""
    spec = IMPORT_SPECS.get(kind)
    if spec is None:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {sorted(IMPORT_SPECS)}")
    sheet = read_sheet(data, filename=filename, max_bytes=max_bytes)
    fields, problems = spec.map_header(sheet.header)
    if problems:
        raise ImportFileError(*problems)
    result = ImportResult(kind=kind)
    first_seen: dict[tuple[Any, ...], int] = {}
    for offset, cells in enumerate(sheet.rows):
        if not any(cells):
            continue
        row_no = offset + 2
        record, errors = _validate_row(spec, fields, sheet.header, cells, row_no)
        if record is not None:
            errors += _duplicates(spec, sheet.header, fields, record, row_no, first_seen)
        result.errors += errors
        if record is not None and not errors:
            result.rows.append(ImportedRow(row=row_no, record=record))
    return result


def _validate_row(
    spec: ImportSpec, fields: list[str], header: list[str], cells: list[str], row_no: int
) -> tuple[BaseModel | None, list[RowError]]:
    payload: dict[str, Any] = {}
    errors: list[RowError] = []
    for name, title, cell in zip(fields, header, cells, strict=True):
        if isinstance(cell, FormulaCell):
            reason = "formula cells are not accepted; paste the value instead"
            errors.append(RowError(row_no, title, str(cell), reason, name))
        elif cell:
            try:
                payload[name] = spec.convert(name, cell)
            except ValueError as exc:
                errors.append(RowError(row_no, title, cell, str(exc), name))
    try:
        record = spec.model.model_validate(payload)
    except ValidationError as exc:
        errors += _model_errors(exc, fields, header, cells, row_no, {e.field for e in errors})
        order = {name: i for i, name in enumerate(fields)}
        errors.sort(key=lambda e: order.get(e.field, len(fields)))
        return None, errors
    return (None if errors else record), errors


def _model_errors(
    exc: ValidationError,
    fields: list[str],
    header: list[str],
    cells: list[str],
    row_no: int,
    already_failed: set[str],
) -> list[RowError]:
    """Pydantic's errors as row errors, skipping fields whose cell was already refused."""
    errors = []
    for err in exc.errors(include_url=False):
        name = str(err["loc"][0]) if err["loc"] else ""
        if name in already_failed:
            continue
        column, cell = "", ""
        if name in fields:
            column, cell = header[fields.index(name)], cells[fields.index(name)]
        errors.append(RowError(row_no, column, cell, _reason(err), name))
    return errors


def _reason(err: Any) -> str:
    if err["type"] == "missing":
        message = "required value is missing"
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
    inner = [str(part) if isinstance(part, str) else f"item {part + 1}" for part in err["loc"][1:]]
    return f"{' '.join(inner)}: {message}" if inner else message


def _duplicates(
    spec: ImportSpec,
    header: list[str],
    fields: list[str],
    record: BaseModel,
    row_no: int,
    first_seen: dict[tuple[Any, ...], int],
) -> list[RowError]:
    errors = []
    for key_fields in spec.unique:
        values = tuple(getattr(record, f) for f in key_fields)
        if any(v is None for v in values):
            continue
        first = first_seen.setdefault((key_fields, *values), row_no)
        if first != row_no:
            name = key_fields[0]
            column = header[fields.index(name)]
            shown = " ".join(str(v) for v in values)
            what = " and ".join(key_fields)
            reason = f"duplicate {what}: same as row {first}"
            errors.append(RowError(row_no, column, shown, reason, name))
    return errors
