"""schemathesis against the app's own OpenAPI, once per role: no request, however odd
but schema-shaped, gets a 5xx (contract §7: "never a 500 for bad input").

In-process over ASGI against the real app, database and broker; a bounded number of
examples per operation (derandomized, so a run is repeatable) keeps the file within a
couple of minutes on two cores. What it found is pinned below as plain requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import select

from alerts.models import Incident, Notice
from dashboard.app import create_app
from dashboard.security import issue_token
from keywatch.db import make_sessionmaker, transaction
from registry.models import Inspection, User, Vehicle
from tests.helpers import with_settings

ROLES = {"admin": "admin", "supervisor": "super", "officer": "officer1",
         "inspector": "inspector", "company": "muck"}
EXAMPLES = 12  # per operation and role
SKIP = {"/api/v1/live"}  # an endless event stream: covered by tests/dashboard
EXAMPLE_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.explicit,
                                                     hypothesis.Phase.generate])


@pytest.fixture(scope="module")
def schema(settings, tmp_path_factory) -> Iterator[OpenApiSchema]:
    """The app (a home of its own: uploads land in a scratch directory) and its OpenAPI;
    schemathesis runs the app's lifespan (the live hub) until the module ends."""
    app = create_app(with_settings(settings, home=tmp_path_factory.mktemp("home")))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    asgi.shutdown_lifespans()


@pytest.fixture
def objects(city):
    """tests.city (see conftest) plus an incident, a notice and an inspection of 鲁B00001."""
    with transaction(make_sessionmaker(city)) as session:
        truck = session.scalars(select(Vehicle).where(Vehicle.plate == "鲁B00001")).one()
        now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
        incident = Incident(rule="speeding", severity="serious", status="open",
                            vehicle_id=truck.id, plate=truck.plate, vehicle_class="muck_truck",
                            company="QD-MUCK-01", district="370202", officer="P37020201",
                            started_at=now, updated_at=now, details={"speed": 80})
        session.add(incident)
        session.flush()
        session.add_all([
            Notice(incident_id=incident.id, company="QD-MUCK-01", plate=truck.plate,
                   rule="speeding", severity="serious", occurred_at=now, title="抄告",
                   text="超速"),
            Inspection(vehicle_id=truck.id, month="2026-11", inspected_on=date(2026, 11, 3),
                       inspector="刘", items={"brakes": True})])
    return city


def bearer(engine, settings, username: str) -> dict[str, str]:
    """A fresh token for ``username`` (an earlier operation may have logged it out)."""
    with make_sessionmaker(engine)() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        token = issue_token(secret=settings.secret_key, user_id=user.id,
                            username=user.username, role=user.role,
                            token_version=user.token_version, ttl_s=600)
    return {"Authorization": f"Bearer {token}"}


def fuzz(operation: APIOperation, headers: dict[str, str], statuses: Counter[int]) -> None:
    """``EXAMPLES`` schema-shaped requests to ``operation``, counted in ``statuses``;
    raises on a 5xx."""

    @EXAMPLE_SETTINGS
    @given(case=operation.as_strategy())
    def no_5xx(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        statuses[response.status_code] += 1

    no_5xx()


@pytest.mark.parametrize("role", ROLES)
def test_no_server_errors(role, schema, objects, settings):
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50, "the OpenAPI lost its operations"
    for operation in operations:
        if operation.path in SKIP:
            continue
        try:
            fuzz(operation, bearer(objects, settings, ROLES[role]), statuses)
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, f"{len(failures)} operations failed as {role}:\n" + \
        "\n\n".join(failures)
    # the requests were the role's, not refused at the door
    ok = sum(n for status, n in statuses.items() if status < 300)
    assert ok > 50 and statuses[401] < ok, statuses


@pytest.mark.parametrize(("method", "url", "body"), [
    # what schemathesis found answering 500, each now a 422 with a JSON message
    ("GET", "/api/v1/incidents/9223372036854775808", None),
    ("POST", "/api/v1/incidents/-9223372036854775809/ack", None),
    ("GET", "/api/v1/geofences/2147483648", None),
    ("GET", "/api/v1/districts?offset=9223372036854775808", None),
    ("GET", "/api/v1/deliveries?incident_id=9223372036854775808", None),
    ("POST", "/api/v1/dead-letters/replay", {"ids": [2**63]}),
    ("GET", "/api/v1/companies?q=%00", None),
    ("GET", "/api/v1/incidents?rule=a%00b", None),
    ("POST", "/api/v1/officers", {"badge": "P1", "name": "-\x00"}),
    ("GET", "/api/v1/stats/companies/top?end=0001-01-02", None),
    ("GET", "/api/v1/stats/export.xlsx?start=9999-12-31&end=9999-12-31", None),
])
def test_what_schemathesis_found_is_a_422(method, url, body, client, auth):
    response = client.request(method, url, json=body, headers=auth("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["status"] == 422
    assert "SELECT" not in response.text and "INSERT" not in response.text
