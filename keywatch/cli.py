"""The ``keywatch`` command line (contract §1a)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ingest.simulate import add_arguments as add_simulate_arguments
from keywatch import commands
from keywatch.errors import KeywatchError
from keywatch.logs import setup_logging
from keywatch.services import ServiceError

Handler = Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keywatch", description="Keywatch key-vehicle monitoring")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    services = sub.add_parser("services", help="private PostGIS cluster and Mosquitto broker")
    services.add_argument("action", choices=["up", "down", "status"])
    services.set_defaults(handler=commands.services)

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(handler=commands.db_upgrade)

    user = sub.add_parser("user", help="accounts")
    user.add_argument("action", choices=["add"])
    user.add_argument("--username", required=True)
    user.add_argument("--password", required=True)
    user.add_argument("--role", required=True,
                      choices=["admin", "supervisor", "officer", "inspector", "company"])
    user.add_argument("--company", help="company code (role company)")
    user.add_argument("--officer", help="officer badge (roles officer/supervisor)")
    user.set_defaults(handler=commands.user_add)

    run = sub.add_parser("run", help="run the platform (all parts, or --only some)")
    run.add_argument("--only", default="", help="comma list of ingest,dispatch,gateway,web")
    run.set_defaults(handler=commands.run)

    sample = sub.add_parser("sample", help="the sample city")
    sample.add_argument("action", choices=["load"])
    sample.set_defaults(handler=commands.sample_load)

    replay = sub.add_parser("replay", help="publish recorded tracks through MQTT")
    replay.add_argument("paths", nargs="+")
    replay.add_argument("--speed", type=float, default=1.0, help="replay speed factor (N×)")
    replay.add_argument("--keep-time", action="store_true", help="do not shift times to now")
    replay.set_defaults(handler=commands.replay)

    device = sub.add_parser("device", help="terminal credentials for installers")
    device.add_argument("action", choices=["credentials"])
    device.add_argument("device_id")
    device.set_defaults(handler=commands.device_credentials)

    demo = sub.add_parser("demo", help="services, sample city, whole platform, live replay")
    demo.set_defaults(handler=commands.demo)

    bulk = sub.add_parser("import", help="bulk import CSV/XLSX with a per-row error report")
    bulk.add_argument("kind", choices=["vehicles", "drivers", "companies"])
    bulk.add_argument("file", help="CSV (UTF-8 ± BOM, GBK) or XLSX; first row = headers")
    bulk.add_argument("--skip-invalid", action="store_true",
                      help="import the good rows and report the bad ones (default: all or none)")
    bulk.set_defaults(handler=commands.bulk_import)

    sim = sub.add_parser("simulate", help="load generator of realistic moving vehicles")
    add_simulate_arguments(sim)
    sim.set_defaults(handler=commands.simulate)

    gaps = sub.add_parser("gaps", help="devices with missing fixes (holes in their seq numbers)")
    gaps.add_argument("--since", default="1h",
                      help="RFC 3339 time (no offset: KEYWATCH_TZ) or a duration ago (default 1h)")
    gaps.add_argument("--until", default="", help="as --since (default now)")
    gaps.add_argument("--modulus", type=int, default=None,
                      help="the terminals' counter wraps at this value (e.g. 65536); "
                           "default: a step back is a counter restart")
    gaps.add_argument("--ranges", action="store_true", help="also list each gap's seq numbers")
    gaps.set_defaults(handler=commands.gaps)

    jt808 = sub.add_parser("jt808", help="JT/T 808 tools")
    jt808.add_argument("action", choices=["decode"])
    jt808.add_argument("hex")
    jt808.set_defaults(handler=commands.jt808_decode)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    setup_logging(verbose=args.verbose)
    handler: Handler = args.handler
    try:
        code = handler(args)
    except (KeywatchError, ServiceError) as exc:
        print(f"keywatch: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
