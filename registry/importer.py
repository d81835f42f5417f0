"""Bulk import of vehicles, drivers and companies (``keywatch import`` and the API).

The whole file is validated first — each row against its schema
(``registry.tabular.parse_rows``) and then against the database (unknown
company, district, officer or geofence ref; a terminal held by another
vehicle) — and every problem is reported as (row, column, value, reason).
Nothing is written if any row is bad, unless ``skip_invalid``: then the good
rows go in and the bad ones are reported. Rows upsert by natural key in bulk,
in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from registry import checks, fleet, people
from registry.headers import IMPORT_SPECS
from registry.tabular import DEFAULT_MAX_BYTES, ImportedRow, RowError, parse_rows

KINDS = ("vehicles", "drivers", "companies")
# progress(stage, done, total): stage is "validating", "checking" or "writing"
StageProgress = Callable[[str, int, int], None]

_CHECKS = {"vehicles": checks.check_vehicles, "drivers": checks.check_drivers,
           "companies": checks.check_companies}


@dataclass(slots=True)
class ImportOutcome:
    kind: str
    rows: int = 0  # data rows read (valid or not)
    created: int = 0
    updated: int = 0
    skipped: int = 0  # bad rows left out (skip_invalid)
    written: bool = False
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind, "rows": self.rows, "created": self.created,
            "updated": self.updated, "skipped": self.skipped, "written": self.written,
            "errors": [{"row": e.row, "column": e.column, "field": e.field, "value": e.value,
                        "reason": e.reason} for e in self.errors],
        }


def import_file(session: Session, kind: str, data: bytes, *, filename: str | None = None,
                skip_invalid: bool = False, max_bytes: int = DEFAULT_MAX_BYTES,
                now: datetime | None = None, progress: StageProgress | None = None
                ) -> ImportOutcome:
    """Validate and (if clean, or ``skip_invalid``) upsert one file's rows.

    File-level problems (size, encoding, headers) raise ``ImportFileError`` /
    ``TooLarge``; row problems are in the outcome's ``errors``."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {', '.join(KINDS)}")
    report = progress or (lambda stage, done, total: None)
    report("validating", 0, 1)
    parsed = parse_rows(kind, data, filename=filename, max_bytes=max_bytes)
    outcome = ImportOutcome(kind=kind, errors=list(parsed.errors))
    report("validating", 1, 1)
    good = parsed.rows
    outcome.errors += _cross_errors(session, kind, good)
    outcome.errors.sort(key=lambda e: e.row)
    report("checking", 1, 1)
    bad_rows = {e.row for e in outcome.errors}
    outcome.rows = len(good) + len(bad_rows - {r.row for r in good})
    if bad_rows and not skip_invalid:
        return outcome
    keep = [r.record for r in good if r.row not in bad_rows]
    outcome.skipped = len(bad_rows)
    if keep:
        done = _write(session, kind, keep, now or datetime.now(UTC),
                      lambda d, t: report("writing", d, t))
        outcome.created, outcome.updated = done.created, done.updated
    else:
        report("writing", 0, 0)
    outcome.written = bool(keep)
    return outcome


def _cross_errors(session: Session, kind: str, rows: Sequence[ImportedRow]) -> list[RowError]:
    if not rows:
        return []
    headers = IMPORT_SPECS[kind].headers
    problems = _CHECKS[kind](session, [r.record for r in rows])  # type: ignore[operator]
    return [RowError(rows[p.index].row, headers[p.field][0] if p.field in headers else p.field,
                     p.value, p.reason, p.field) for p in problems]


def _write(session: Session, kind: str, records: list, now: datetime,
           progress: fleet.Progress) -> fleet.Upserted:
    if kind == "vehicles":
        return fleet.upsert_vehicles(session, records, now=now, progress=progress)
    if kind == "drivers":
        return people.upsert_drivers(session, records, progress=progress)
    return people.upsert_companies(session, records, progress=progress)


def error_table(errors: Sequence[RowError], *, limit: int = 200) -> str:
    """The error report as an aligned text table (for the CLI)."""
    head = ("row", "column", "value", "reason")
    lines = [(str(e.row), e.column or "-", _short(e.value), e.reason) for e in errors[:limit]]
    widths = [max(_width(x) for x in col) for col in zip(head, *lines, strict=False)]
    widths[-1] = 0  # the reason runs to the end of the line

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True))

    out = [fmt(head), fmt(["-" * w for w in widths[:-1]] + ["------"]), *map(fmt, lines)]
    if len(errors) > limit:
        out.append(f"… and {len(errors) - limit} more problems")
    return "\n".join(line.rstrip() for line in out)


def _short(value: str, size: int = 30) -> str:
    return value if len(value) <= size else value[: size - 1] + "…"


def _width(text: str) -> int:
    """Display width: CJK characters take two terminal columns."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
