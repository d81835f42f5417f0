"""What each ``keywatch`` sub-command does; the parser lives in ``cli.py``."""

from __future__ import annotations

import argparse
import json
import sys

from keywatch.runtime import load_settings
from keywatch.services import Services, broker_tls


def services(args: argparse.Namespace) -> int:
    settings = load_settings()
    svc = Services(settings.home, tls=broker_tls(settings))
    if args.action == "up":
        svc.up()
        urls = load_settings()  # the broker URL with the platform's service account
        print(f"KEYWATCH_DATABASE_URL={urls.database_url}")
        print(f"KEYWATCH_MQTT_URL={urls.mqtt_url}")
    elif args.action == "down":
        svc.down()
        print("stopped")
    else:
        for name, status in svc.status().items():
            print(f"{name:10} {status}")
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    from keywatch.db import make_engine
    from keywatch.migrate import upgrade

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    print("database schema is up to date")
    return 0


def user_add(args: argparse.Namespace) -> int:
    from keywatch.db import make_engine, make_sessionmaker, transaction
    from registry.accounts import create_user

    settings = load_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    with transaction(factory) as session:
        user = create_user(
            session,
            username=args.username,
            password=args.password,
            role=args.role,
            company_code=args.company,
            officer_badge=args.officer,
        )
    print(f"created {user.role} account {user.username!r}")
    return 0


def run(args: argparse.Namespace) -> int:
    from keywatch.process import run_parts

    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    return run_parts(load_settings(), parts)


def sample_load(args: argparse.Namespace) -> int:
    from keywatch.db import make_engine, make_sessionmaker, transaction
    from registry.sample import SAMPLE_DIR, load_sample_city

    settings = load_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    with transaction(factory) as session:
        counts = load_sample_city(session, SAMPLE_DIR, tz=settings.tz)
    print("sample city loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def replay(args: argparse.Namespace) -> int:
    from ingest.replay import replay_paths

    settings = load_settings()
    return replay_paths(settings, args.paths, speed=args.speed, shift=not args.keep_time)


def bulk_import(args: argparse.Namespace) -> int:
    """``keywatch import vehicles|drivers|companies FILE [--skip-invalid]``."""
    from pathlib import Path

    from keywatch.db import make_engine, make_sessionmaker, transaction
    from registry.importer import error_table, import_file
    from registry.progress import ProgressBar

    settings = load_settings()
    path = Path(args.file)
    if not path.is_file():
        print(f"keywatch: no such file: {path}", file=sys.stderr)
        return 1
    if path.stat().st_size > settings.import_max_bytes:
        print(f"keywatch: {path} is larger than the limit of {settings.import_max_bytes} bytes "
              "(KEYWATCH_IMPORT_MAX_BYTES)", file=sys.stderr)
        return 1
    bar = ProgressBar(f"import {args.kind}")
    factory = make_sessionmaker(make_engine(settings.database_url))
    with transaction(factory) as session:
        outcome = import_file(session, args.kind, path.read_bytes(), filename=path.name,
                              skip_invalid=args.skip_invalid,
                              max_bytes=settings.import_max_bytes, progress=bar.update)
    bar.close()
    if outcome.errors:
        print(error_table(outcome.errors))
    if outcome.errors and not args.skip_invalid:
        print(f"{len(outcome.errors)} problems in {outcome.rows} rows; nothing was imported "
              "(fix the rows, or use --skip-invalid)", file=sys.stderr)
        return 1
    print(f"{args.kind}: {outcome.created} created, {outcome.updated} updated, "
          f"{outcome.skipped} bad rows skipped")
    return 0


def jt808_decode(args: argparse.Namespace) -> int:
    from ingest.jt808 import DecodeError, decode_hex

    try:
        decoded = decode_hex(args.hex)
    except DecodeError as exc:
        print(f"keywatch: not a valid JT/T 808 frame: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(decoded, ensure_ascii=False, indent=2))
    return 0


def demo(args: argparse.Namespace) -> int:
    from keywatch.demo import run_demo

    return run_demo()


def simulate(args: argparse.Namespace) -> int:
    from ingest.simulate import run_command

    return run_command(load_settings(), args)


def device_credentials(args: argparse.Namespace) -> int:
    """What an installer configures in a terminal: broker URL, username, password, topic."""
    from ingest.broker_auth import device_secret
    from registry.validation import validate_device_id

    try:
        device_id = validate_device_id(args.device_id)
    except ValueError as exc:
        print(f"keywatch: {exc}", file=sys.stderr)
        return 2
    settings = load_settings()
    print(f"username: {device_id}")
    print(f"password: {device_secret(settings.secret_key, device_id)}")
    print(f"publish:  kw/v1/dev/{device_id}/pos | tacho | jt808 (QoS 1)")
    return 0


def gaps(args: argparse.Namespace) -> int:
    """``keywatch gaps``: devices whose fix numbering (``seq``) has holes in a window."""
    from datetime import UTC, datetime

    from ingest.gaps import devices_with_gaps, find_gaps, parse_when
    from keywatch.db import make_engine

    settings = load_settings()
    now = datetime.now(UTC)
    try:
        since = parse_when(args.since, now=now, tz=settings.zone)
        until = parse_when(args.until, now=now, tz=settings.zone) if args.until else now
        window = {"since": since, "until": until, "modulus": args.modulus}
        with make_engine(settings.database_url).connect() as conn:
            devices = devices_with_gaps(conn, **window)
            holes = find_gaps(conn, **window) if args.ranges else []
    except ValueError as exc:
        print(f"keywatch: {exc}", file=sys.stderr)
        return 2
    span = f"{since.astimezone(settings.zone).isoformat()} .. " \
           f"{until.astimezone(settings.zone).isoformat()}"
    if not devices:
        print(f"no sequence gaps {span}")
        return 0
    print(f"sequence gaps {span}")
    print(f"{'device':32} {'plate':12} {'fixes':>8} {'missing':>8} {'gaps':>6} {'restarts':>8}")
    for d in devices:
        print(f"{d.device_id:32} {d.plate or '-':12} {d.fixes:>8} {d.missing:>8} {d.gaps:>6} "
              f"{d.restarts:>8}")
    for hole in holes:
        print(f"  {hole.device_id}: seq {hole.after_seq} -> {hole.before_seq} "
              f"({hole.missing} missing, {hole.after_ts.astimezone(settings.zone):%H:%M:%S}"
              f" .. {hole.before_ts.astimezone(settings.zone):%H:%M:%S})")
    print(f"{sum(d.missing for d in devices)} fixes missing from "
          f"{sum(1 for d in devices if d.missing)} devices")
    return 0
