"""The consumer's faster network loop (``ingest.mqtt._BurstClient``) against the real
broker: chunked reads, a drained socket per wake-up and coalesced PUBACKs must
deliver exactly what paho alone delivers — every message, intact, in order, nothing
stuck in the read buffer, every acknowledgement reaching the broker, and nothing of
one connection read into the next."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from ingest import mqtt
from ingest.mqtt import BrokerAddress, Consumer
from tests.helpers import publisher, wait_for


def _consumer(settings, client_id: str) -> Consumer:  # type: ignore[no-untyped-def]
    consumer = Consumer(BrokerAddress.parse(settings.mqtt_url), client_id,
                        topic="kw/v1/dev/+/pos", session_expiry_s=120)
    consumer.start()
    assert consumer.connected.wait(10), "consumer did not connect"
    # ``connected`` is set when the SUBSCRIBE is sent, not when it is in place: what is
    # published before the SUBACK does not reach a new session (seen: the first 4 of
    # 3,000 messages missing, 1 run in ~15). Subscribing again waits for the SUBACK.
    consumer.subscribe_many(["kw/v1/dev/+/pos"])
    return consumer


def _count_wakes(client) -> list[int]:  # type: ignore[no-untyped-def]
    """Counts the bytes written to paho's wake-up socket from now on."""
    count = [0]
    real = client._sockpairW

    class Counting:
        def send(self, data: bytes) -> int:
            count[0] += 1
            return real.send(data)

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

    client._sockpairW = Counting()
    return count


def _drain(consumer: Consumer, count: int, timeout_s: float = 60) -> list:
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got += consumer.take(count - len(got), 0.2)
    return got


def _payload(i: int, size: int) -> bytes:
    head = f"{i:08d}|".encode()
    return head + bytes((i + k) % 251 for k in range(size - len(head)))


def test_many_small_and_large_messages_arrive_intact_in_order_and_acks_land(settings):
    client_id = f"kw-burst-{uuid.uuid4().hex[:6]}"
    consumer = _consumer(settings, client_id)
    # small ones far beyond one read chunk, and large ones that span several chunks
    sizes = [60 if i % 500 else 3 * mqtt.READ_CHUNK + 17 for i in range(6_000)]
    try:
        with publisher(settings) as pub:
            infos = [pub.publish(f"kw/v1/dev/burst-{i % 7}/pos", _payload(i, size))
                     for i, size in enumerate(sizes)]
            for info in infos:
                info.wait_for_publish(30)
            got = _drain(consumer, len(sizes))
        assert len(got) == len(sizes)
        # one publisher, one subscription: the broker keeps its order
        assert [m.payload for m in got] == [_payload(i, s) for i, s in enumerate(sizes)]
        wakes = _count_wakes(consumer.client)
        consumer.ack(got)
        assert wakes == [1]  # one wake-up of the network thread for 6,000 PUBACKs
        time.sleep(1.0)  # the coalesced PUBACKs go out on the network thread
    finally:
        consumer.stop()
    # had any PUBACK been lost or mangled, the session would redeliver that message
    again = _consumer(settings, client_id)
    try:
        assert _drain(again, 1, timeout_s=3) == []
    finally:
        again.stop()


def test_a_batch_of_publishes_wakes_the_network_thread_once_and_all_arrive(settings):
    """Publisher.batch: QoS 1 PUBLISHes queued quietly and written together (joined
    with any PUBACKs); each still completes on its own PUBACK, in order at the broker."""
    consumer = _consumer(settings, f"kw-burst-{uuid.uuid4().hex[:6]}")
    try:
        with publisher(settings) as pub:
            wakes = _count_wakes(pub.client)
            with pub.batch():
                infos = [pub.publish(f"kw/v1/dev/batch-{i % 5}/pos", _payload(i, 80))
                         for i in range(500)]
                assert wakes == [0]  # nothing written yet: it goes at the block's end
            assert wakes == [1]
            for info in infos:
                info.wait_for_publish(30)
            assert all(info.is_published() for info in infos)
            got = _drain(consumer, 500)
        assert [m.payload for m in got] == [_payload(i, 80) for i in range(500)]
        consumer.ack(got)
    finally:
        consumer.stop()


def test_a_message_after_a_quiet_spell_is_not_held_in_the_buffer(settings):
    consumer = _consumer(settings, f"kw-burst-{uuid.uuid4().hex[:6]}")
    try:
        with publisher(settings) as pub:
            for i in range(5):
                time.sleep(0.3)
                began = time.monotonic()
                pub.publish_and_wait("kw/v1/dev/quiet/pos", _payload(i, 40))
                got = _drain(consumer, 1, timeout_s=5)
                assert [m.payload for m in got] == [_payload(i, 40)]
                assert time.monotonic() - began < 1.0, "message waited in the read buffer"
                consumer.ack(got)
    finally:
        consumer.stop()


def test_a_new_connection_never_reads_the_old_ones_buffer(settings):
    """Cut the connection while messages stream (unacknowledged ones come again on the
    resumed session): every message arrives whole, none is spliced from two sockets."""
    client_id = f"kw-burst-{uuid.uuid4().hex[:6]}"
    consumer = _consumer(settings, client_id)
    total = 3_000
    seen: dict[bytes, int] = {}
    try:
        with publisher(settings) as pub:
            infos = [pub.publish("kw/v1/dev/cut/pos", _payload(i, 200)) for i in range(total)]
            first = _drain(consumer, 500, timeout_s=10)
            # as a network fault would (shutdown, not close: the network thread may be in
            # select() on that very descriptor)
            consumer.client._sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
            for info in infos:
                info.wait_for_publish(30)
            consumer.ack(first)  # on the dead connection: may be lost, then redelivered
            rest: list = []
            wait_for(lambda: consumer.connected.is_set(), 30, "the reconnect")

            def everything() -> bool:
                rest.extend(consumer.take(1000, 0.2))
                return {m.payload for m in first + rest} >= {_payload(i, 200)
                                                             for i in range(total)}
            wait_for(everything, 60, "every message after the reconnect")
        for message in first + rest:
            seen[message.payload] = seen.get(message.payload, 0) + 1
        valid = {_payload(i, 200) for i in range(total)}
        assert set(seen) == valid  # nothing corrupted or spliced
        consumer.ack(rest)
    finally:
        consumer.stop()


@pytest.mark.parametrize("size", [1, 127, 128, 16_383, 16_384, 2_097_152])
def test_length_boundaries(settings, size):
    """Remaining-length encodings of 1 to 4 bytes, split anywhere across reads."""
    consumer = _consumer(settings, f"kw-burst-{uuid.uuid4().hex[:6]}")
    try:
        with publisher(settings) as pub:
            pub.publish_and_wait("kw/v1/dev/len/pos", _payload(7, max(size, 9)))
            pub.publish_and_wait("kw/v1/dev/len/pos", b"after")
            got = _drain(consumer, 2, timeout_s=10)
        assert [m.payload for m in got] == [_payload(7, max(size, 9)), b"after"]
        consumer.ack(got)
    finally:
        consumer.stop()


def test_a_full_inbox_pauses_reading_and_the_backlog_waits_in_the_broker(settings):
    """The worker's memory holds about one inbox of messages, however long the broker's
    queue: Mosquitto 2.0.11 stops honouring the receive maximum once acknowledgements
    flow, so the consumer stops reading its socket while the inbox is full."""
    from ingest.mqtt import Inbox

    inbox = Inbox(limit=200)
    consumer = Consumer(BrokerAddress.parse(settings.mqtt_url), f"kw-burst-{uuid.uuid4().hex[:6]}",
                        topic="kw/v1/dev/+/pos", session_expiry_s=120, inbox=inbox)
    consumer.start()
    assert consumer.connected.wait(10)
    consumer.subscribe_many(["kw/v1/dev/+/pos"])  # in place before publishing (_consumer)
    total, size = 3_000, 2_000
    per_chunk = mqtt.READ_CHUNK // size + 1
    peak, got = 0, []
    try:
        with publisher(settings) as pub:
            infos = [pub.publish("kw/v1/dev/full/pos", _payload(i, size)) for i in range(total)]
            for info in infos:
                info.wait_for_publish(30)
            deadline = time.monotonic() + 60
            while len(got) < total and time.monotonic() < deadline:
                time.sleep(0.05)  # a slow worker
                peak = max(peak, len(inbox.queue))
                batch = consumer.take(50, 0.1)
                consumer.ack(batch)
                got += batch
        assert [m.payload for m in got] == [_payload(i, size) for i in range(total)]
        assert peak <= inbox.limit + per_chunk, peak  # not the 3,000 the broker would send
    finally:
        consumer.stop()


def test_publishes_with_and_without_properties_both_arrive_whole(settings, monkeypatch):
    """A PUBLISH without MQTT 5 properties takes the consumer's short way in
    (``_BurstClient._handle_publish``); one with properties, paho's. Both must give the
    same topic, payload, QoS and packet id, in order, and be acknowledged."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client_id = f"kw-burst-{uuid.uuid4().hex[:6]}"
    consumer = _consumer(settings, client_id)
    through_paho: list[bytes] = []
    paho_way = consumer._on_message
    monkeypatch.setattr(consumer.client, "on_message", lambda c, u, m: (
        through_paho.append(bytes(m.payload)), paho_way(c, u, m)))
    sent = []
    try:
        with publisher(settings) as pub:
            for i in range(40):
                props = None
                if i % 4 == 1:
                    props = Properties(PacketTypes.PUBLISH)
                    props.UserProperty = ("k", f"v{i}")
                    props.MessageExpiryInterval = 600
                payload = b"" if i == 8 else _payload(i, 30 + i)
                qos = 0 if i % 5 == 2 else 1
                pub.client.publish(f"kw/v1/dev/props-{i % 3}/pos", payload, qos=qos,
                                   properties=props).wait_for_publish(10)
                sent.append((f"kw/v1/dev/props-{i % 3}/pos", payload, qos, props is not None))
            got = _drain(consumer, len(sent))
        assert [(m.topic, m.payload, m.ack_token[2]) for m in got] == \
               [(topic, payload, qos) for topic, payload, qos, _ in sent]
        assert sorted(through_paho) == sorted(p for _, p, _, has in sent if has)
        mids = [m.ack_token[1] for m in got if m.ack_token[2] == 1]
        assert all(0 < mid < 65536 for mid in mids) and len(set(mids)) == len(mids)
        assert all(m.ack_token[1] == 0 for m in got if m.ack_token[2] == 0)
        consumer.ack(got)
        time.sleep(1.0)
    finally:
        consumer.stop()
    again = _consumer(settings, client_id)  # an unacknowledged QoS 1 message would return
    try:
        assert _drain(again, 1, timeout_s=3) == []
    finally:
        again.stop()
