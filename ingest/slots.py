"""Several ingest workers on one Mosquitto, each vehicle on exactly one of them.

Mosquitto has no hash-based shared subscription, so the work is split by hand
(``KEYWATCH_INGEST_SLOTS`` = S, the same on every worker):

- A device belongs to slot ``crc32(device_id) % S``. Each slot is one persistent
  MQTT session, ``{client_id}-slot-{k}``, subscribed explicitly to
  ``kw/v1/dev/{device}/+`` for every registered device of the slot (kept in step
  with the registry).
- A worker owns a session while it holds its PostgreSQL advisory lock
  (``ingest.claims``). Every few seconds it claims free slots up to its fair
  share and gives back any beyond it. A worker killed with SIGKILL loses its
  locks with its connection; a survivor claims its slots and resumes their
  sessions (``clean_start=False``), receiving the unacknowledged and queued
  messages in order. One session is only ever connected from one worker.
- The *main* session, ``{client_id}`` on ``kw/v1/dev/+/+`` (the single worker's
  session of before), processes whatever no slot covers: unregistered devices
  (dead letters) and devices registered since their slot last subscribed. A
  slot announces its device list (retained, ``kw/v1/ingest/{group}/slot/{k}``)
  after the broker's SUBACK, so main receives the announcement in order with
  the devices' messages: before it main processes them (the slot had no
  subscription yet), after it main acknowledges them unprocessed. Main saves
  the announcements it applied (retained, ``…/covered``) before acknowledging
  them, so a main resumed after a crash starts with the coverage that matches
  its unacknowledged messages.

With S = 0 (the default) there are no slots: main is all of ingest, as before,
and a second worker waits on main's lock as a hot standby.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

import psycopg

from ingest.broker_auth import ACTIVE_DEVICES_SQL, DEVICES_VERSION_SQL
from ingest.claims import MAIN, Claims
from ingest.coverage import Coverage, announcement
from ingest.messages import TOPIC_FILTER, InboundMessage
from ingest.mqtt import (
    SESSION_EXPIRY_S,
    BrokerAddress,
    Consumer,
    Inbox,
    ack_messages,
    read_retained,
)

log = logging.getLogger(__name__)
IDLE_S = 5.0  # input dry this long: the session has caught up with the broker
SETTLE_S = 60.0  # busy this long without committing a fix (only bad input?): wall clock
CONTROL = "control"  # InboundMessage.source of a slot's announcement, seen by main
_DEVICE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_SEND_IF_NEW = 1  # MQTT 5 retain handling: retained messages only on a new subscription


def slot_of(device_id: str, slots: int) -> int:
    """The slot of a device: the same in every process, release and Python version."""
    return zlib.crc32(device_id.encode()) % slots


def device_of(topic: str) -> str | None:
    parts = topic.split("/")
    return parts[3] if len(parts) == 5 and parts[:3] == ["kw", "v1", "dev"] else None


def event_time(wall: datetime, watermark: datetime | None, idle: bool) -> datetime | None:
    """The clock of the silent-vehicle rules: the wall once caught up (input dry for
    ``IDLE_S``); while a backlog drains, the newest fix committed (vehicles whose next
    fixes are still queued are not silent); None — no tick yet — while busy with
    nothing committed (just started or took a session over: its backlog may be old)."""
    if idle:
        return wall
    return None if watermark is None else min(wall, watermark)


@dataclass(frozen=True)
class Names:
    """Client ids, topics and lock keys of one consumer group (``KEYWATCH_MQTT_CLIENT_ID``)."""

    client_id: str

    @property
    def group(self) -> str:
        return re.sub(r"[^A-Za-z0-9_-]", "_", self.client_id)

    @property
    def lock_class(self) -> int:
        return (zlib.crc32(f"keywatch-ingest:{self.client_id}".encode()) & 0x3FFFFFFF) + 1

    def slot_client(self, k: int) -> str:
        return f"{self.client_id}-slot-{k}"

    def announcement(self, k: int | str) -> str:
        return f"kw/v1/ingest/{self.group}/slot/{k}"

    @property
    def coverage(self) -> str:
        return f"kw/v1/ingest/{self.group}/covered"


@dataclass
class SlotClock:
    """Event time of one slot's vehicles (``event_time``)."""

    since: float = field(default_factory=time.monotonic)
    watermark: datetime | None = None
    last_taken: float | None = None

    def now(self, wall: datetime) -> datetime | None:
        now = time.monotonic()
        idle = now - (self.last_taken or self.since) >= IDLE_S
        unsettled = self.watermark is None and now - self.since >= SETTLE_S
        return event_time(wall, self.watermark, idle or unsettled)


@dataclass
class Slot:
    k: int
    consumer: Consumer
    previous: frozenset[str]  # subscribed by its last owner, as it announced
    announced: frozenset[str] | None = None  # subscribed and announced by this owner
    resync: bool = False  # set on each connect: subscribe everything again
    lost: bool = False  # connected without its session (the broker lost it)
    clock: SlotClock = field(default_factory=SlotClock)


class IngestGroup:
    """The sessions this worker owns, behind ``Consumer``'s interface for the worker's
    loop (start, take, ack, stop, queue, ready, connected), plus ``maintain`` (claims
    and subscriptions, between batches) and the slots' clocks."""

    def __init__(self, address: BrokerAddress, client_id: str, *, database_url: str,
                 slots: int = 0, topic: str = TOPIC_FILTER,
                 session_expiry_s: float = SESSION_EXPIRY_S,
                 claim_every_s: float = 2.0, resync_every_s: float = 5.0) -> None:
        self.address, self.names, self.slots, self.topic = address, Names(client_id), slots, topic
        self.session_expiry_s = session_expiry_s
        self.claim_every_s, self.resync_every_s = claim_every_s, resync_every_s
        self.claims = Claims(database_url, self.names.lock_class)
        self.inbox = Inbox()
        self.queue, self.ready = self.inbox.queue, self.inbox.ready
        self.connected = threading.Event()  # every session it owns is connected
        self.main: Consumer | None = None
        self.owned: dict[int, Slot] = {}
        self.coverage = Coverage(slots)
        self.devices: dict[int, frozenset[str]] | None = None  # the registry's, by slot
        self._version: str | None = None
        self._next_claim = self._next_resync = 0.0
        self._cooldown: dict[int, float] = {}  # key → not reclaimed before (monotonic)
        self._free_since: dict[int, float] = {}

    # -- the worker's loop ---------------------------------------------------------
    def start(self) -> None:
        """Sessions are claimed by ``maintain``, which the worker calls first thing."""

    def stop(self) -> None:
        for consumer in self._consumers():
            consumer.stop()
        self.main, self.owned = None, {}
        self.claims.close()
        self.connected.clear()

    def take(self, max_items: int, max_wait_s: float) -> list[InboundMessage]:
        deadline = time.monotonic() + max_wait_s
        while True:
            batch = self.inbox.take(max_items, max(0.0, deadline - time.monotonic()),
                                    boundary=lambda m: m.source == CONTROL)
            if not batch or batch[0].source != CONTROL:
                self._note_taken(batch)
                return batch
            self._apply(batch)

    def ack(self, messages: list[InboundMessage]) -> None:
        ack_messages(messages)  # each on the session it came from

    def maintain(self) -> None:
        """Claims (every ``claim_every_s``), the registry (every ``resync_every_s``) and
        each owned slot's subscriptions. Errors are logged and retried next time."""
        now = time.monotonic()
        try:
            self._drop_taken_over()
            if now >= self._next_claim:
                self._next_claim = now + self.claim_every_s
                self._claim_round()
            if self.slots and now >= self._next_resync:
                self._next_resync = now + self.resync_every_s
                self._refresh_registry()
        except psycopg.Error as exc:
            log.error("ingest claims: database unavailable: %s", (str(exc) or repr(exc))[:300])
        for slot in list(self.owned.values()):
            self._sync(slot)
        self._refresh_connected()

    def registry_changed(self) -> None:
        """Hook for the registry → broker sync: look at the devices now."""
        self._next_resync = 0.0

    def leads(self) -> bool:
        """Whether this worker runs the group-wide jobs (the sequence-gap scan): the
        one holding the main session, so exactly one worker of a group does."""
        return self.main is not None

    def tick_scopes(self) -> list[tuple[list[str] | None, SlotClock | None]]:
        """What this worker ticks: (devices or None for all, the slot's clock or None
        for the worker's own)."""
        if not self.slots:
            return [(None, None)] if self.main is not None else []
        devices = self.devices or {}
        return [(sorted(devices[k]), slot.clock) for k, slot in sorted(self.owned.items())
                if devices.get(k)]

    def committed(self, fixes: dict) -> None:
        """Advance the slots' event-time clocks by a committed batch's new fixes."""
        if not self.slots:
            return
        for group in fixes.values():
            slot = self.owned.get(slot_of(group[0].device_id, self.slots))
            newest = max(f.ts for f in group)
            if slot is not None and (slot.clock.watermark is None
                                     or newest > slot.clock.watermark):
                slot.clock.watermark = newest

    # -- claims --------------------------------------------------------------------
    def _claim_round(self) -> None:
        if not self.claims.alive():
            if self.main is not None or self.owned:
                log.error("lost the database connection that holds this worker's ingest "
                          "claims: leaving its sessions to whoever claims them")
                self._leave_all()
            self.claims.open()
        held, members = self.claims.survey()
        now = time.monotonic()
        if self.main is None and MAIN not in held and self._cooldown.get(MAIN, 0) <= now \
                and self.claims.try_claim(MAIN):
            self._start_main()
        if not self.slots:
            return
        fair = math.ceil(self.slots / max(members, 1))
        if len(self.owned) > fair:
            for k in sorted(self.owned)[fair:]:
                self._release(k, "more than its share")
            return
        claimed: list[int] = []
        for k in range(self.slots):
            if k in held:
                self._free_since.pop(k, None)
                continue
            # beyond its share only when a slot stays free (e.g. its share's owner hangs)
            free_for = now - self._free_since.setdefault(k, now)
            if self._cooldown.get(k, 0) > now or (
                    len(self.owned) + len(claimed) >= fair and free_for < 3 * self.claim_every_s):
                continue
            if self.claims.try_claim(k):
                claimed.append(k)
                self._free_since.pop(k, None)
        if claimed:
            self._start_slots(claimed)

    def _start_main(self) -> None:
        extra: tuple[tuple[str, int], ...] = ()
        if self.slots:
            try:
                retained = read_retained(self.address, [self.names.coverage])
            except (OSError, TimeoutError) as exc:
                log.error("ingest main session: broker unavailable: %s", exc)
                self.claims.release(MAIN)
                return
            self.coverage.restore(retained.get(self.names.coverage))
            extra = ((self.names.announcement("+"), _SEND_IF_NEW),)
        self.main = Consumer(self.address, self.names.client_id, self.topic,
                             self.session_expiry_s, inbox=self.inbox, extra_topics=extra,
                             admit=self._admit_main, on_session=self._main_connected)
        self.main.start()
        log.info("ingest: this worker now runs the main session %s", self.names.client_id)

    def _start_slots(self, ks: list[int]) -> None:
        try:
            retained = read_retained(self.address, [self.names.announcement("+")])
        except (OSError, TimeoutError) as exc:
            log.error("ingest slots: broker unavailable: %s", exc)
            for k in ks:
                self.claims.release(k)
            return
        for k in ks:
            previous = self.coverage.parse(retained.get(self.names.announcement(k)))
            consumer = Consumer(self.address, self.names.slot_client(k), None,
                                self.session_expiry_s, inbox=self.inbox,
                                on_session=functools.partial(self._slot_connected, k))
            self.owned[k] = Slot(k, consumer, previous[1] if previous else frozenset())
            consumer.start()
        log.info("ingest: claimed slot(s) %s of %d; owns %s", ks, self.slots, sorted(self.owned))

    def _release(self, k: int, why: str) -> None:
        slot = self.owned.pop(k)
        slot.consumer.stop()
        self.inbox.purge(slot.consumer)  # the next owner receives them again
        self.claims.release(k)
        self._cooldown[k] = time.monotonic() + 3 * self.claim_every_s
        log.info("ingest: gave back slot %d (%s)", k, why)

    def _drop_taken_over(self) -> None:
        lost = [(k, s.consumer) for k, s in self.owned.items() if s.consumer.taken_over]
        if self.main is not None and self.main.taken_over:
            lost.append((MAIN, self.main))
        for k, consumer in lost:
            log.error("MQTT session %s was taken over by a client that does not hold its "
                      "claim: do two workers share KEYWATCH_MQTT_CLIENT_ID but not the "
                      "database? Leaving it for 60 s", consumer.client_id)
            consumer.stop()
            self.inbox.purge(consumer)
            if k == MAIN:
                self.main = None
            else:
                del self.owned[k]
            self._cooldown[k] = time.monotonic() + 60
            if self.claims.alive():
                self.claims.release(k)

    def _leave_all(self) -> None:
        for consumer in self._consumers():
            consumer.stop()
            self.inbox.purge(consumer)
        self.main, self.owned = None, {}

    # -- main's coverage and the slots' subscriptions ------------------------------
    def _admit_main(self, consumer: Consumer, message: InboundMessage) -> InboundMessage | None:
        """In paho's thread: queue it, queue it as an announcement, or ack it unprocessed."""
        if message.topic.startswith(self.names.announcement("")):
            if self.coverage.see(message.payload):
                return replace(message, source=CONTROL)
        else:
            device = device_of(message.topic)
            if device is None or not self.coverage.covers(device):
                return message  # the pipeline stores it or dead-letters it
        consumer.ack([message])  # a slot's session has it (or an announcement for another S)
        return None

    def _main_connected(self, consumer: Consumer, session_present: bool) -> None:
        self.coverage.resume(session_present)
        self._refresh_connected()  # now, even while the worker's loop waits on the database

    def _slot_connected(self, k: int, consumer: Consumer, session_present: bool) -> None:
        slot = self.owned.get(k)
        if slot is not None and slot.consumer is consumer:
            slot.lost, slot.resync = not session_present, True

    def _apply(self, announcements: list[InboundMessage]) -> None:
        """Everything main received before these is committed: apply, save, ack."""
        main = announcements[0].ack_token[0]
        if self.coverage.apply([m.payload for m in announcements]):
            try:
                main.publish_retained(self.names.coverage, self.coverage.state())
            except (OSError, TimeoutError, RuntimeError) as exc:
                log.warning("ingest coverage not saved (redelivered later): %s", exc)
                return
        self.ack(announcements)

    def _refresh_registry(self) -> None:
        (version,), = self.claims.query(DEVICES_VERSION_SQL)
        if version == self._version:
            return
        by_slot: dict[int, set[str]] = defaultdict(set)
        for (device,) in self.claims.query(ACTIVE_DEVICES_SQL):
            if _DEVICE.match(device):
                by_slot[slot_of(device, self.slots)].add(device)
        self.devices = {k: frozenset(v) for k, v in by_slot.items()}
        self._version = version

    def _sync(self, slot: Slot) -> None:
        """Subscribe, then announce (after the SUBACK), then unsubscribe what left."""
        if self.devices is None or not slot.consumer.connected.is_set():
            return
        wanted = self.devices.get(slot.k, frozenset())
        resync, slot.resync = slot.resync, False
        if not resync and wanted == slot.announced:
            return
        known = slot.previous if slot.announced is None else slot.announced
        announce = functools.partial(slot.consumer.publish_retained,
                                     self.names.announcement(slot.k))
        try:
            if resync and slot.lost and known:
                # its subscriptions went with the session: main covers them meanwhile
                announce(announcement(self.slots, slot.k, frozenset()))
            new = wanted if resync else wanted - known
            slot.consumer.subscribe_many([f"kw/v1/dev/{d}/+" for d in sorted(new)])
            announce(announcement(self.slots, slot.k, wanted))
            slot.announced = wanted
            gone = known - wanted
            if gone:
                slot.consumer.unsubscribe_many([f"kw/v1/dev/{d}/+" for d in sorted(gone)])
        except (OSError, TimeoutError, ConnectionError, RuntimeError) as exc:
            slot.resync = True
            log.warning("ingest slot %d: subscriptions not synced yet: %s", slot.k, exc)

    # -- bookkeeping ---------------------------------------------------------------
    def _note_taken(self, batch: list[InboundMessage]) -> None:
        if not self.slots or not batch:
            return
        now = time.monotonic()
        for message in batch:
            device = device_of(message.topic)
            slot = self.owned.get(slot_of(device, self.slots)) if device else None
            if slot is not None:
                slot.clock.last_taken = now

    def _consumers(self) -> list[Consumer]:
        main = [self.main] if self.main is not None else []
        return main + [slot.consumer for slot in list(self.owned.values())]

    def _refresh_connected(self) -> None:
        """Also from paho's thread: reads snapshots only (list() of a dict is atomic)."""
        consumers = self._consumers()
        slots = list(self.owned.values())
        synced = all(s.announced is not None and not s.resync for s in slots)
        if consumers and synced and all(c.connected.is_set() for c in consumers):
            self.connected.set()
        else:
            self.connected.clear()
