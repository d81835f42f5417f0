"""A tiny city for tests: one district around Qingdao's 市南区, its officers, a company,
vehicles and a restricted zone. Plain rows, no mocks."""

from __future__ import annotations

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy.orm import Session

from registry.accounts import create_user
from registry.models import (
    Company,
    District,
    Geofence,
    Officer,
    OfficerDistrict,
    Vehicle,
)

DISTRICT = box(120.30, 36.03, 120.45, 36.10)  # lon/lat
ZONE = box(120.36, 36.05, 120.40, 36.08)
INSIDE = (36.065, 120.363)  # lat, lon
OUTSIDE = (36.065, 120.357)  # 270 m west of the zone
PASSWORD = "correct-horse-9"


def make_city(session: Session, *, devices: dict[str, str] | None = None) -> None:
    """``devices`` maps device id → vehicle class (default one muck truck ``t-0001``)."""
    session.add_all([
        Officer(badge="P37020201", name="张警官", role="officer"),
        Officer(badge="S37020201", name="李队长", role="supervisor"),
        Officer(badge="P37020301", name="王警官", role="officer"),
    ])
    session.flush()
    session.add(District(code="370202", name="市南区",
                         geom=from_shape(MultiPolygon([DISTRICT]), srid=4326),
                         officer_badge="P37020201", supervisor_badge="S37020201"))
    session.flush()
    session.add_all([OfficerDistrict(badge="P37020201", district="370202"),
                     OfficerDistrict(badge="S37020201", district="370202")])
    session.add_all([
        Company(code="QD-MUCK-01", name="青岛测试渣土运输有限公司", kind="muck_transport"),
        Company(code="QD-OTHER-01", name="青岛另一运输公司", kind="freight"),
    ])
    session.flush()
    for number, (device_id, vehicle_class) in enumerate(
            (devices or {"t-0001": "muck_truck"}).items(), start=1):
        company = "QD-MUCK-01" if number % 2 else "QD-OTHER-01"
        session.add(Vehicle(plate=f"鲁B{number:05d}", vehicle_class=vehicle_class,
                            company_code=company, device_id=device_id,
                            home_district="370202", officer_badge="P37020201",
                            status="active"))
    session.add(Geofence(ref="zone-downtown", name="市南区渣土车禁行区", kind="restricted",
                         classes=["muck_truck"], plates=[], geom=from_shape(ZONE, srid=4326)))
    session.flush()
    create_user(session, username="officer1", password=PASSWORD, role="officer",
                officer_badge="P37020201")
    create_user(session, username="officer2", password=PASSWORD, role="officer",
                officer_badge="P37020301")
    create_user(session, username="admin", password=PASSWORD, role="admin")
    create_user(session, username="muck", password=PASSWORD, role="company",
                company_code="QD-MUCK-01")
    create_user(session, username="other", password=PASSWORD, role="company",
                company_code="QD-OTHER-01")
