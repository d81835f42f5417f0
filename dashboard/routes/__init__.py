"""Route modules: every module here with a ``router`` is mounted by the app factory,
so adding a resource is adding a module (no shared list to edit)."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    routers = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
    # pages last: "/" must not shadow API paths
    routers.sort(key=lambda r: r.include_in_schema is False)
    return routers
