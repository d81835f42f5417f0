"""``keywatch demo`` (what ``make demo`` runs): services, schema, sample city, the
whole platform, and the sample tracks replayed live. Ctrl-C stops what it started."""

from __future__ import annotations

import logging
import threading
import time

from keywatch.runtime import load_settings
from keywatch.services import Services, broker_tls
from keywatch.settings import Settings

log = logging.getLogger(__name__)

DEMO_USERS = (
    # username, password, role, company, officer badge — printed at start-up
    ("admin", "keywatch-admin", "admin", None, None),
    ("officer", "keywatch-officer", "officer", None, "P37020201"),
    ("supervisor", "keywatch-super", "supervisor", None, "S37020201"),
    ("company", "keywatch-company", "company", "QD-MUCK-01", None),
)


def prepare(settings: Settings) -> None:
    from sqlalchemy import select

    from keywatch.db import make_engine, make_sessionmaker, transaction
    from keywatch.migrate import upgrade
    from registry.accounts import create_user
    from registry.models import User
    from registry.sample import SAMPLE_DIR, load_sample_city

    engine = make_engine(settings.database_url)
    upgrade(engine)
    with transaction(make_sessionmaker(engine)) as session:
        counts = load_sample_city(session, SAMPLE_DIR, tz=settings.tz)
        for username, password, role, company, badge in DEMO_USERS:
            if session.scalar(select(User).where(User.username == username)) is None:
                create_user(session, username=username, password=password, role=role,
                            company_code=company, officer_badge=badge)
    engine.dispose()
    print("sample city: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


def _replay_forever(settings: Settings, stop: threading.Event) -> None:
    from ingest.replay import SAMPLE_DEMO_TRACK, replay_paths

    while not stop.is_set():
        replay_paths(settings, [str(SAMPLE_DEMO_TRACK)], speed=4.0)
        stop.wait(5)


def run_demo() -> int:
    explicit = Settings()
    services = Services(explicit.home, tls=broker_tls(explicit))
    started_services = False
    if not explicit.database_url or not explicit.mqtt_url:
        started_services = not all(s.startswith("running") for s in services.status().values())
        services.up()
    settings = load_settings()
    prepare(settings)
    stop = threading.Event()
    print(f"\nKeywatch is starting at http://{settings.http_host}:{settings.http_port}")
    print("demo logins (username / password):")
    for username, password, role, company, badge in DEMO_USERS:
        print(f"  {username:10} / {password:18} {role} {company or badge or ''}")
    print("Ctrl-C stops everything this command started.\n")
    replayer = threading.Thread(target=_replay_forever, args=(settings, stop), daemon=True)
    threading.Timer(3.0, replayer.start).start()
    from keywatch.process import run_parts

    try:
        run_parts(settings, [])
    finally:
        stop.set()
        if started_services:
            time.sleep(0.5)
            services.down()
            print("stopped the private PostgreSQL and Mosquitto")
    return 0
