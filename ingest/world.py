"""What the worker knows of the city: geofence index, districts, rule parameters.

Built from the database and swapped atomically (one attribute assignment) when
geofences or districts change, so the worker never restarts for a new zone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from alerts.routing import Router
from geo.index import FenceIndex
from registry.lookup import load_districts, load_fences

log = logging.getLogger(__name__)

_VERSION_SQL = text(
    "SELECT (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM geofences)"
    " || '|' || (SELECT count(*) || ':' || coalesce(string_agg(md5(code || coalesce("
    "officer_badge,'') || coalesce(supervisor_badge,'') || ST_AsText(geom)), ''), '')"
    " FROM districts)"
)


@dataclass(frozen=True, slots=True)
class World:
    fences: FenceIndex
    router: Router
    version: str


class WorldView:
    """Holds the current ``World``; ``refresh`` rebuilds it when the data changed."""

    def __init__(self, metric_crs: str, check_every_s: float = 2.0, *, tz: object = None,
                 cooldown_s: float = 300.0) -> None:
        self.metric_crs = metric_crs
        self.tz = tz
        self.cooldown_s = cooldown_s
        self.check_every_s = check_every_s
        self._world: World | None = None
        self._checked = 0.0

    @property
    def current(self) -> World:
        if self._world is None:
            raise RuntimeError("WorldView.refresh() has not run yet")
        return self._world

    def refresh(self, session: Session, *, force: bool = False) -> World:
        now = time.monotonic()
        if self._world is not None and not force and now - self._checked < self.check_every_s:
            return self._world
        self._checked = now
        version = session.execute(_VERSION_SQL).scalar_one()
        if self._world is None or version != self._world.version:
            fences = load_fences(session)
            self._world = World(
                fences=FenceIndex(fences, crs=self.metric_crs),
                router=Router(load_districts(session), tz=self.tz,  # type: ignore[arg-type]
                              cooldown_s=self.cooldown_s),
                version=version,
            )
            log.info("loaded %d geofences, %d districts", len(fences),
                     len(self._world.router.districts))
        return self._world
