"""The only importer of paho: MQTT 5 consumer (manual PUBACK after commit) and publisher.

Messages become frozen ``InboundMessage`` objects at once; nothing is raised
into paho's network thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.messages import TOPIC_FILTER, InboundMessage

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 14 * 86400  # a worker may be down for days without losing its queue
RECEIVE_MAXIMUM = 10_000  # unacked in flight; a batch is acked only after its commit


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


def _client(address: BrokerAddress, client_id: str, *, manual_ack: bool) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5, manual_ack=manual_ack)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


class Consumer:
    """Receives QoS 1 messages into a queue; ``ack`` sends PUBACKs in receipt order."""

    def __init__(self, address: BrokerAddress, client_id: str, topic: str = TOPIC_FILTER,
                 session_expiry_s: float = SESSION_EXPIRY_S) -> None:
        self.topic = topic
        self.session_expiry_s = int(session_expiry_s)
        self.queue: deque[InboundMessage] = deque()
        self.ready = threading.Condition()
        self.connected = threading.Event()
        self.client = _client(address, client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.address = address

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

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.error("MQTT connect refused: %s", reason_code)
            return
        client.subscribe(self.topic, qos=1)
        self.connected.set()
        log.info("MQTT connected to %s:%s (session present: %s)", self.address.host,
                 self.address.port, flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.connected.clear()
        log.warning("MQTT disconnected: %s", reason_code)

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        inbound = InboundMessage(topic=message.topic, payload=bytes(message.payload),
                                 received_at=datetime.now(UTC),
                                 ack_token=(message.mid, message.qos))
        with self.ready:
            self.queue.append(inbound)
            self.ready.notify()

    def take(self, max_items: int, max_wait_s: float) -> list[InboundMessage]:
        """Up to ``max_items``; waits at most ``max_wait_s`` after the first arrives."""
        with self.ready:
            if not self.queue:
                self.ready.wait(timeout=max_wait_s)
            deadline = time.monotonic() + max_wait_s
            while len(self.queue) < max_items and time.monotonic() < deadline:
                self.ready.wait(timeout=max(0.0, deadline - time.monotonic()))
            count = min(max_items, len(self.queue))
            return [self.queue.popleft() for _ in range(count)]

    def ack(self, messages: list[InboundMessage]) -> None:
        for message in messages:
            mid, qos = message.ack_token
            if qos > 0:
                self.client.ack(mid, qos)


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
