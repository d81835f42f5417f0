"""The only importer of paho: MQTT 5 consumers (manual PUBACK after commit), publishers.

Messages become frozen ``InboundMessage`` objects at once; nothing is raised
into paho's network thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.messages import TOPIC_FILTER, InboundMessage

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 14 * 86400  # a worker may be down for days without losing its queue
RECEIVE_MAXIMUM = 65_535  # unacked in flight (MQTT 5's largest); a batch is acked after its commit
FILTERS_PER_PACKET = 500  # topic filters per SUBSCRIBE/UNSUBSCRIBE (~12 KB)
TAKEN_OVER = 0x8E  # MQTT 5 DISCONNECT reason: another client connected with our id


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        if not url:
            raise ValueError("KEYWATCH_MQTT_URL is not set: run `keywatch services up` or set it")
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"KEYWATCH_MQTT_URL must start with mqtt:// or mqtts://: {url!r}")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883),
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, tls)


READ_CHUNK = 256 * 1024  # bytes taken from the socket per recv()
PACKETS_PER_SEND = 4096  # PUBACKs or QoS 1 PUBLISHes written with one send()
ROOM_WAIT_S = 0.1  # a full inbox: the network loop looks again this often


class _BurstClient(paho.Client):
    """paho's client with its network thread's per-message costs taken out.

    paho reads one packet per ``select()`` wake-up, with a ``recv()`` for the command
    byte, one per length byte and one for the rest; and it writes every PUBACK with
    a ``send()`` of its own. That caps a consumer near 17,000 messages/s on this
    project's 2-core machine (receive and PUBACK only, nothing else), in the thread
    that shares the GIL with ingest; with this class, near 25,000. Here the
    socket is read in large chunks and drained on each wake-up (a consumer's full
    ``Inbox`` stops the reading: see there), and queued PUBACKs and QoS 1 PUBLISHes go
    out in one ``send()``.
    The protocol handling, callbacks and reconnects are paho's own, untouched
    (paho-mqtt 2.x internals: ``_sock_recv``, ``loop_read``, ``_packet_write``;
    tests/ingest/test_mqtt_burst.py pins their behaviour)."""

    _quiet: int | None = None  # the thread inside ``quiet``
    _rsock: object = None
    _rbuf: bytes = b""
    _rpos: int = 0
    inbox: Inbox | None = None  # a consumer's: reading pauses while it is full
    # a consumer's: takes (topic, payload, mid, qos) of each QoS 0/1 PUBLISH that
    # carries no MQTT 5 properties, without paho's message objects (``_handle_publish``)
    receive: Callable[[str, bytes, int, int], None] | None = None

    def _handle_publish(self) -> paho.MQTTErrorCode:
        # paho builds a Properties object (even for none), a message with its own
        # Condition, and looks up filtered callbacks for every PUBLISH: half its cost
        # per message. A device's PUBLISH has no properties; anything else (QoS 2,
        # properties, a malformed or non-UTF-8 topic) goes paho's way.
        header, packet = self._in_packet["command"], self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if self.receive is None or qos > 1 or self._protocol != paho.MQTTv5:
            return super()._handle_publish()
        end = 2 + int.from_bytes(packet[:2], "big")
        start = end + 2 * qos  # the packet id, at QoS 1
        if len(packet) <= start or packet[start] != 0:  # short, or has properties
            return super()._handle_publish()
        try:
            topic = packet[2:end].decode("utf-8")
        except UnicodeDecodeError:
            return super()._handle_publish()
        if not topic:  # MQTT 5 topic aliases arrive as a property: already gone above
            return super()._handle_publish()
        mid = int.from_bytes(packet[end:start], "big") if qos else 0
        with self._in_callback_mutex:
            self.receive(topic, bytes(packet[start + 1:]), mid, qos)
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rsock is not self._sock or self._rpos >= len(self._rbuf):
            # a new connection never sees the old one's bytes
            self._rsock, self._rbuf, self._rpos = self._sock, b"", 0
            if self.inbox is not None and not self.inbox.has_room(ROOM_WAIT_S):
                # as if the socket were empty: this loop goes round (acks, pings) and
                # comes back; what is not read stays in TCP buffers and the broker
                raise BlockingIOError
            data = super()._sock_recv(READ_CHUNK)  # BlockingIOError when nothing is there
            if len(data) <= bufsize:
                return data  # also b"": the connection was closed
            self._rbuf = data
        start = self._rpos
        self._rpos = min(start + bufsize, len(self._rbuf))
        return self._rbuf[start:self._rpos]

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        # Until the socket has nothing more, or a consumer's inbox is full (``_sock_recv``
        # then reports an empty socket; Mosquitto does not hold a session to its
        # receive maximum). Never with bytes left in this buffer, where select() cannot
        # see them.
        while True:
            if self._sock is None:
                return paho.MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == paho.MQTTErrorCode.MQTT_ERR_AGAIN and self._rpos >= len(self._rbuf):
                return paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, acks: list[tuple[int, int]]) -> None:
        """Acknowledge each (packet id, QoS) in order, waking the network thread once for
        all of them (``quiet``; with two workers the one holding the main session
        would otherwise pay a wake-up for every fix twice)."""
        with self.quiet():
            for mid, qos in acks:
                self.ack(mid, qos)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Packets this thread queues inside the block (PUBACKs, PUBLISHes) wake the
        network thread once, at its end: paho writes a byte to its wake-up socket for
        every packet it queues, a system call each and a wake-up of the network thread
        competing for the GIL. One thread at a time; never wait inside the block for
        what it queued (it is not sent before the end). Without a network thread
        (never started) everything goes paho's own way."""
        if self._thread is None or self._sockpairW is None:
            yield
            return
        self._quiet = threading.get_ident()
        try:
            yield
        finally:
            self._quiet = None
            if threading.current_thread() is not self._thread:  # the network thread itself
                with contextlib.suppress(BlockingIOError):  # writes before it selects again
                    self._sockpairW.send(b"0")

    def _packet_queue(self, command: int, packet: bytes | bytearray, mid: int, qos: int,
                      info: paho.MQTTMessageInfo | None = None) -> paho.MQTTErrorCode:
        if self._quiet != threading.get_ident():
            return super()._packet_queue(command, packet, mid, qos, info)
        # inside ``quiet`` in this thread: queued as paho queues it, the wake-up comes after
        self._out_packet.append({"command": command, "mid": mid, "qos": qos, "pos": 0,
                                 "to_process": len(packet), "packet": packet, "info": info})
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _packet_write(self) -> paho.MQTTErrorCode:
        out = self._out_packet
        if len(out) > 1 and _joinable(out[0]) and _joinable(out[1]):
            parts = []
            while out and len(parts) < PACKETS_PER_SEND and _joinable(out[0]):
                parts.append(out.popleft()["packet"])
            joined = b"".join(parts)
            out.appendleft({"command": paho.PUBACK, "mid": 0, "qos": 0, "pos": 0,
                            "to_process": len(joined), "packet": joined, "info": None})
        return super()._packet_write()


def _joinable(packet: dict) -> bool:
    """An unsent PUBACK or QoS 1 PUBLISH: paho does nothing once it is written (a QoS 1
    publish is complete at its PUBACK), so several can go out in one ``send()``."""
    kind = packet["command"] & 0xF0
    return packet["pos"] == 0 and (kind == paho.PUBACK
                                   or (kind == paho.PUBLISH and packet["qos"] == 1))


def _client(address: BrokerAddress, client_id: str, *, manual_ack: bool) -> _BurstClient:
    client = _BurstClient(CallbackAPIVersion.VERSION2, client_id=client_id,
                          protocol=paho.MQTTv5, manual_ack=manual_ack)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


class Inbox:
    """Received messages in arrival order, shared by all the sessions of one worker.

    At most about ``limit`` of them: above it the sessions stop reading their sockets
    (``has_room``), so a backlog waits in the broker, not in this process's memory.
    The receive maximum should be that bound, but Mosquitto 2.0.11 sends a session's
    whole queue once acknowledgements flow (a lagging worker grew by 1 GB in 10
    minutes of bench/soak.py); TCP's own flow control is the bound that holds."""

    def __init__(self, limit: int = RECEIVE_MAXIMUM) -> None:
        self.queue: deque[InboundMessage] = deque()
        self.limit = limit
        lock = threading.RLock()
        self.ready = threading.Condition(lock)  # messages arrived
        self._room = threading.Condition(lock)  # messages taken

    def has_room(self, wait_s: float) -> bool:
        """Below ``limit`` (waiting up to ``wait_s`` for ``take`` to make room)."""
        if len(self.queue) < self.limit:
            return True
        with self._room:
            self._room.wait_for(lambda: len(self.queue) < self.limit, timeout=wait_s)
            return len(self.queue) < self.limit

    def put(self, message: InboundMessage) -> None:
        with self.ready:
            self.queue.append(message)
            self.ready.notify()

    def take(self, max_items: int, max_wait_s: float,
             boundary: Callable[[InboundMessage], bool] | None = None) -> list[InboundMessage]:
        """Up to ``max_items``; waits at most ``max_wait_s`` after the first arrives.
        A ``boundary`` message ends a batch: it comes alone, or not at all."""
        with self.ready:
            if not self.queue:
                self.ready.wait(timeout=max_wait_s)
            deadline = time.monotonic() + max_wait_s
            while len(self.queue) < max_items and time.monotonic() < deadline:
                self.ready.wait(timeout=max(0.0, deadline - time.monotonic()))
            taken: list[InboundMessage] = []
            while self.queue and len(taken) < max_items:
                if boundary is not None and boundary(self.queue[0]):
                    if not taken:
                        taken.append(self.queue.popleft())
                    break
                taken.append(self.queue.popleft())
            if taken:
                self._room.notify_all()
            return taken

    def purge(self, consumer: Consumer) -> int:
        """Drop ``consumer``'s messages (the broker redelivers them to its next owner)."""
        with self.ready:
            kept = [m for m in self.queue if m.ack_token[0] is not consumer]
            dropped = len(self.queue) - len(kept)
            self.queue.clear()
            self.queue.extend(kept)
            self._room.notify_all()
            return dropped


class Consumer:
    """One persistent session: QoS 1 messages into an inbox, PUBACKs sent by ``ack``.

    ``topic`` is (re)subscribed on every connect; None leaves the session's
    subscriptions to ``subscribe_many``. ``admit(consumer, message)`` runs in paho's
    thread and returns what to queue (the message, another, or None when it handled
    it); ``on_session(consumer, session_present)`` runs on each connect.
    """

    def __init__(self, address: BrokerAddress, client_id: str, topic: str | None = TOPIC_FILTER,
                 session_expiry_s: float = SESSION_EXPIRY_S, *, inbox: Inbox | None = None,
                 extra_topics: tuple[tuple[str, int], ...] = (),
                 admit: Callable[[Consumer, InboundMessage], InboundMessage | None] | None = None,
                 on_session: Callable[[Consumer, bool], None] | None = None) -> None:
        self.topic = topic
        self.extra_topics = extra_topics  # (filter, retain handling)
        self.session_expiry_s = int(session_expiry_s)
        self.inbox = inbox or Inbox()
        self.queue, self.ready = self.inbox.queue, self.inbox.ready
        self.admit, self.on_session = admit, on_session
        self.connected = threading.Event()
        self.taken_over = False  # another client connected with our id: we stop, not fight
        self.client_id = client_id
        self.client = _client(address, client_id, manual_ack=True)
        self.client.inbox = self.inbox  # type: ignore[attr-defined]
        self.client.receive = self._receive  # type: ignore[attr-defined]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self.client.on_unsubscribe = self._on_suback
        self.address = address
        self._acks = _Acks()

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        # clean_start=False on EVERY connect: paho's default (first only) would
        # wipe the broker-side queue each time the worker restarts.
        self.client.connect_async(self.address.host, self.address.port, keepalive=30,
                                  clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.error("MQTT connect of %s refused: %s", self.client_id, reason_code)
            return
        if self.topic is not None:
            client.subscribe([(self.topic, SubscribeOptions(qos=1))] + [
                (topic, SubscribeOptions(qos=1, retainHandling=handling))
                for topic, handling in self.extra_topics])
        self.connected.set()
        if self.on_session is not None:
            self.on_session(self, flags.session_present)
        log.info("MQTT %s connected to %s:%s (session present: %s)", self.client_id,
                 self.address.host, self.address.port, flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.connected.clear()
        if reason_code == TAKEN_OVER:
            # reconnecting would take the session back, and so on: a ping-pong
            self.taken_over = True
            client.disconnect()
        log.warning("MQTT %s disconnected: %s", self.client_id, reason_code)

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        """paho's way in (a PUBLISH with properties, QoS 2); the usual one is ``_receive``."""
        self._receive(message.topic, bytes(message.payload), message.mid, message.qos)

    def _receive(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        inbound = InboundMessage(topic=topic, payload=payload, received_at=datetime.now(UTC),
                                 ack_token=(self, mid, qos))
        queued = inbound if self.admit is None else self.admit(self, inbound)
        if queued is not None:
            self.inbox.put(queued)

    def take(self, max_items: int, max_wait_s: float) -> list[InboundMessage]:
        """Up to ``max_items``; waits at most ``max_wait_s`` after the first arrives."""
        return self.inbox.take(max_items, max_wait_s)

    def ack(self, messages: list[InboundMessage]) -> None:
        ack_messages(messages)

    def subscribe_many(self, filters: list[str], *, timeout_s: float = 30.0) -> None:
        """QoS 1 subscriptions (no retained messages), many per SUBSCRIBE; returns after
        every SUBACK, so messages published from now on reach this session."""
        for start in range(0, len(filters), FILTERS_PER_PACKET):
            chunk = filters[start:start + FILTERS_PER_PACKET]
            options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
            self._acks.wait(self.client.subscribe([(f, options) for f in chunk]), timeout_s)

    def unsubscribe_many(self, filters: list[str], *, timeout_s: float = 30.0) -> None:
        for start in range(0, len(filters), FILTERS_PER_PACKET):
            self._acks.wait(self.client.unsubscribe(filters[start:start + FILTERS_PER_PACKET]),
                            timeout_s)

    def publish_retained(self, topic: str, payload: bytes, *, timeout_s: float = 30.0) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise TimeoutError(f"no PUBACK for {topic} within {timeout_s:.0f} s")

    def _on_suback(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        self._acks.arrived(mid, [c for c in reason_codes if c.is_failure])


def ack_messages(messages: list[InboundMessage]) -> None:
    """PUBACK each message on the session it came from, in receipt order (one wake-up of
    each session's network thread, not one per message)."""
    by_client: dict[int, tuple[_BurstClient, list[tuple[int, int]]]] = {}
    for message in messages:
        consumer, mid, qos = message.ack_token
        if qos > 0:
            by_client.setdefault(id(consumer.client), (consumer.client, []))[1].append((mid, qos))
    for client, acks in by_client.values():
        client.ack_many(acks)


class _Acks:
    """SUBACK/UNSUBACK waiting; the ack may beat the bookkeeping of its request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[int, list] = {}
        self._waiting: dict[int, threading.Event] = {}

    def arrived(self, mid: int, failures: list) -> None:
        with self._lock:
            self._done[mid] = failures
            event = self._waiting.pop(mid, None)
        if event is not None:
            event.set()

    def wait(self, sent: tuple, timeout_s: float) -> None:
        rc, mid = sent
        if rc != paho.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"MQTT (un)subscribe failed: {paho.error_string(rc)}")
        event = threading.Event()
        with self._lock:
            if mid not in self._done:
                self._waiting[mid] = event
            else:
                event.set()
        if not event.wait(timeout_s):
            with self._lock:
                self._waiting.pop(mid, None)
            raise TimeoutError(f"no (UN)SUBACK within {timeout_s:.0f} s")
        with self._lock:
            failures = self._done.pop(mid)
        if failures:
            raise ConnectionError(f"the broker refused a subscription: {failures[0]}")


def read_retained(address: BrokerAddress, filters: list[str], timeout_s: float = 10.0
                  ) -> dict[str, bytes]:
    """The retained messages on ``filters`` now (a throwaway clean session)."""
    marker = f"kw/v1/ingest/_marker/{uuid.uuid4().hex}"
    found: dict[str, bytes] = {}
    done = threading.Event()

    def on_message(client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        if message.topic == marker:
            done.set()  # the broker sent the retained ones first, in order
        elif message.payload:
            found[message.topic] = bytes(message.payload)

    def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        client.publish(marker, b"1", qos=1)

    client = _client(address, f"kw-read-{uuid.uuid4().hex[:8]}", manual_ack=False)
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.connect(address.host, address.port, keepalive=30)
    client.loop_start()
    try:
        client.subscribe([(f, 1) for f in [*filters, marker]])
        if not done.wait(timeout_s):
            raise TimeoutError(f"retained messages on {filters} not read within {timeout_s} s")
        return found
    finally:
        client.disconnect()
        client.loop_stop()


class Publisher:
    """QoS 1 publisher that can wait for each PUBACK (replay, gateway, tests)."""

    def __init__(self, address: BrokerAddress, client_id: str | None = None) -> None:
        self.client = _client(address, client_id or f"kw-pub-{uuid.uuid4().hex[:8]}",
                              manual_ack=False)
        self.client.max_inflight_messages_set(1000)
        self.address = address
        self._connected = threading.Event()
        self.client.on_connect = lambda *a: self._connected.set()

    def start(self, timeout_s: float = 10.0) -> Publisher:
        self.client.connect(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            raise ConnectionError(f"no MQTT connection to {self.address.host}:"
                                  f"{self.address.port} within {timeout_s:.0f} s")
        return self

    def publish(self, topic: str, payload: bytes | str) -> paho.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=1)
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            raise RuntimeError("MQTT client queue is full")
        return info

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Publishes inside the block go out together at its end (``_BurstClient.quiet``):
        one wake-up of the network thread, not one per message."""
        return self.client.quiet()

    def publish_and_wait(self, topic: str, payload: bytes | str, timeout_s: float = 10.0) -> None:
        self.publish(topic, payload).wait_for_publish(timeout_s)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()



class AsyncPublisher(Publisher):
    """QoS 1 publishing awaited from asyncio: the future resolves on the PUBACK."""

    def __init__(self, address: BrokerAddress, client_id: str | None = None) -> None:
        super().__init__(address, client_id)
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self._early: dict[int, bool] = {}
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            entry = self._pending.pop(mid, None)
            if entry is None:  # the PUBACK beat publish_acked's bookkeeping
                self._early[mid] = reason_code.is_failure
                return
        loop, future = entry
        loop.call_soon_threadsafe(_resolve, future, reason_code.is_failure)

    async def publish_acked(self, topic: str, payload: bytes) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        # paho's lock is held while it calls on_publish: never hold ours around publish()
        info = self.client.publish(topic, payload, qos=1)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise ConnectionError(f"MQTT publish failed: {paho.error_string(info.rc)}")
        with self._lock:
            if info.mid in self._early:
                _resolve(future, self._early.pop(info.mid))
            else:
                self._pending[info.mid] = (loop, future)
        await future


def _resolve(future: asyncio.Future, failed: bool) -> None:
    if future.done():
        return
    if failed:
        future.set_exception(ConnectionError("the broker refused the message"))
    else:
        future.set_result(None)
