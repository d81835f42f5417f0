"""Who owns which ingest session: PostgreSQL session advisory locks (ingest.slots).

A worker owns session ``n`` (a slot number, or ``MAIN``) while its coordination
connection holds the lock ``(group, n)``; the lock vanishes with the connection,
so a worker killed with SIGKILL frees its sessions for the others at once. Each
worker also holds ``(group + 1, its backend pid)``: counting those counts the
live workers, which sets each one's fair share of the slots.
"""

from __future__ import annotations

import psycopg

from keywatch.db import psycopg_url

MAIN = 1_000_000  # the key of the main session (slots are 0 … S-1)

_SURVEY = """
SELECT classid::bigint, objid::bigint FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid::bigint IN (%s, %s)
"""


class Claims:
    def __init__(self, database_url: str, lock_class: int) -> None:
        self.url = psycopg_url(database_url)
        self.lock_class = lock_class  # 1 … 2**30: both it and the member class fit an int4
        self.conn: psycopg.Connection | None = None

    def alive(self) -> bool:
        """Still connected, so still holding what it held."""
        if self.conn is None:
            return False
        try:
            self.conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            self.close()
            return False

    def open(self) -> None:
        # keepalives both ways: a worker cut off without a FIN loses its locks (and the
        # others get its sessions) in ~30 s, not after the kernel's two hours
        self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                    keepalives=1, keepalives_idle=10,
                                    keepalives_interval=5, keepalives_count=3)
        for setting, value in (("idle", 10), ("interval", 5), ("count", 3)):
            self.conn.execute(f"SET tcp_keepalives_{setting} = {value}")
        self.conn.execute("SELECT pg_advisory_lock(%s, pg_backend_pid())",
                          (self.lock_class + 1,))

    def try_claim(self, n: int) -> bool:
        row = self._conn().execute("SELECT pg_try_advisory_lock(%s, %s)",
                                   (self.lock_class, n)).fetchone()
        return bool(row and row[0])

    def release(self, n: int) -> None:
        self._conn().execute("SELECT pg_advisory_unlock(%s, %s)", (self.lock_class, n))

    def survey(self) -> tuple[set[int], int]:
        """The keys held by any worker, and how many workers are alive."""
        rows = self._conn().execute(_SURVEY, (self.lock_class, self.lock_class + 1)).fetchall()
        held = {objid for classid, objid in rows if classid == self.lock_class}
        return held, sum(1 for classid, _ in rows if classid == self.lock_class + 1)

    def query(self, sql: str) -> list[tuple]:
        """A read on the coordination connection (the registry's device list)."""
        return self._conn().execute(sql).fetchall()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def _conn(self) -> psycopg.Connection:
        if self.conn is None:
            raise psycopg.OperationalError("the claims connection is closed")
        return self.conn
