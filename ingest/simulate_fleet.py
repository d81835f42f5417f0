"""Who the simulated vehicles are, and their registry rows.

A vehicle's identity (device id ``{prefix}{n:05d}``, plate, VIN, class, home
district, two drivers) is a pure function of ``(prefix, n, seed)``, so
``register_simulated_fleet`` and every simulator process agree without talking
to each other. The class mix follows the sample city (60 muck trucks, 25 school
buses, 20 hazmat, 20 coaches, 35 freight, 25 rural vans, 15 low-speed trucks
out of 200).
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ingest.simulate_map import SAMPLE_DIR
from registry.fleet import upsert_vehicles
from registry.models import Company, District, Driver
from registry.sample import load_sample_city
from registry.schemas import VehicleIn
from registry.validation import make_resident_id, make_uscc, make_vin

CLASS_MIX = {"muck_truck": 12, "school_bus": 5, "hazmat": 4, "coach": 4, "freight": 7,
             "rural_van": 5, "low_speed_truck": 3}  # the sample city's 200 vehicles / 5
COMPANIES = {  # class → (company kind, name)
    "muck_truck": ("muck_transport", "青岛模拟渣土运输有限公司"),
    "school_bus": ("school", "青岛模拟校车服务有限公司"),
    "hazmat": ("hazardous_goods", "青岛模拟危险货物运输有限公司"),
    "coach": ("coach_operator", "青岛模拟旅游客运有限公司"),
    "freight": ("freight", "青岛模拟物流有限公司"),
    "rural_van": ("rural_transport", "青岛模拟农村客运有限公司"),
    "low_speed_truck": ("other", "青岛模拟农用运输合作社"),
}
URBAN = ("370202", "370203", "370211", "370212", "370213", "370214")
RURAL = ("370215", "370281", "370283", "370285", "370211")
RURAL_CLASSES = ("rural_van", "low_speed_truck")
_PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # plate serials never use I or O


@dataclass(frozen=True, slots=True)
class Identity:
    n: int
    device_id: str
    plate: str
    vin: str
    vehicle_class: str
    company: str
    home_district: str
    drivers: tuple[str, str]


def company_code(vehicle_class: str) -> str:
    return "SIM-" + vehicle_class.upper().replace("_", "-")


def _class_pattern(seed: int) -> list[str]:
    pattern = [cls for cls, count in CLASS_MIX.items() for _ in range(count)]
    random.Random(f"mix:{seed}").shuffle(pattern)
    return pattern


def identities(count: int, prefix: str, seed: int) -> list[Identity]:
    pattern = _class_pattern(seed)
    bucket = zlib.crc32(prefix.encode()) % 400  # keeps plates of two prefixes apart
    return [_identity(n, prefix, seed, pattern, bucket) for n in range(1, count + 1)]


def _identity(n: int, prefix: str, seed: int, pattern: list[str], bucket: int) -> Identity:
    rng = random.Random(f"{prefix}:{seed}:{n}")
    vehicle_class = pattern[(n - 1) % len(pattern)]
    home = rng.choice(RURAL if vehicle_class in RURAL_CLASSES else URBAN)
    serial, number = "", bucket * 100_000 + n % 100_000
    for _ in range(5):
        number, digit = divmod(number, len(_PLATE_CHARS))
        serial = _PLATE_CHARS[digit] + serial
    drivers = tuple(make_resident_id(home, date(rng.randint(1965, 1998), rng.randint(1, 12),
                                                rng.randint(1, 28)), rng.randint(0, 999))
                    for _ in range(2))
    return Identity(n, f"{prefix}{n:05d}", f"鲁U{serial}",
                    make_vin(f"LKWSMV{bucket:03d}{n % 10_000_000:07d}"), vehicle_class,
                    company_code(vehicle_class), home, drivers)  # type: ignore[arg-type]


def _ensure_districts(session: Session) -> dict[str, str | None]:
    features = json.loads((SAMPLE_DIR / "districts.geojson").read_text(encoding="utf-8"))
    codes = [f["properties"]["code"] for f in features["features"]]
    present = session.scalar(select(func.count()).where(District.code.in_(codes)))
    if present != len(codes):
        load_sample_city(session)  # idempotent: districts, officers, sites and zones
    rows = session.execute(select(District.code, District.officer_badge))
    return {code: badge for code, badge in rows}


def register_simulated_fleet(session: Session, *, vehicles: int, prefix: str = "sim-",
                             seed: int = 1) -> dict[str, int]:
    """Registry rows for ``vehicles`` simulated terminals; running it twice changes nothing.

    Loads the sample city first if its districts are missing (home districts and
    the officers responsible for them come from there).
    """
    officers = _ensure_districts(session)
    fleet = identities(vehicles, prefix, seed)
    for vehicle_class, (kind, name) in COMPANIES.items():
        code = company_code(vehicle_class)
        licence = make_uscc(f"91370200KW{zlib.crc32(code.encode()) % 10**7:07d}")
        session.merge(Company(code=code, name=name, kind=kind, licence_no=licence, active=True))
    session.flush()
    rows = [{"licence_no": d, "name": f"模拟驾驶员{i.n:05d}{'甲乙'[k]}",
             "company_code": i.company, "qualifications": [], "active": True}
            for i in fleet for k, d in enumerate(i.drivers)]
    for start in range(0, len(rows), 5000):
        session.execute(insert(Driver).values(rows[start:start + 5000])
                        .on_conflict_do_nothing(index_elements=["licence_no"]))
    records = [VehicleIn(plate=i.plate, vin=i.vin,
                         vehicle_class=i.vehicle_class,  # type: ignore[arg-type]
                         company=i.company, home_district=i.home_district,
                         device_id=i.device_id, officer=officers.get(i.home_district))
               for i in fleet]
    done = upsert_vehicles(session, records, now=datetime.now(UTC))
    return {"vehicles": len(records), "created": done.created, "updated": done.updated,
            "drivers": len(rows), "companies": len(COMPANIES)}
