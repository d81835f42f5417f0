"""Small SQL helpers shared by the registry's bulk paths."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Integer, String, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement


def any_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = ANY(:array)``: one parameter however many values (an IN list of
    40,000 plates would need 40,000 parameters; PostgreSQL allows 65,535)."""
    items = sorted(set(values))
    kind = Integer if items and isinstance(items[0], int) else String
    return column == any_(literal(items, ARRAY(kind)))
