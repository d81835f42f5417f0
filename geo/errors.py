"""The one error ``geo`` raises for bad input.

It subclasses ``ValueError`` so callers that only know the standard library
still catch it; the dashboard maps it to HTTP 422 in its error table.
"""

from __future__ import annotations


class GeoError(ValueError):
    """Invalid geographic input: a geofence, schedule, CRS or coordinate."""
