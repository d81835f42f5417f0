"""What the edges hand to the pipeline: frozen, slotted, free of paho types."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TOPIC = re.compile(r"^kw/v1/dev/([A-Za-z0-9_-]{1,32})/(pos|tacho|jt808)$")
TOPIC_FILTER = "kw/v1/dev/+/+"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One MQTT message (or one frame from the JT/T 808 gateway) as received."""

    topic: str
    payload: bytes
    received_at: datetime
    ack_token: Any = None  # the MQTT packet id; acknowledged after the commit
    source: str = "mqtt"
    sender: str | None = None  # the authenticated MQTT username, when known


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message, or one item of a batch, that could not be accepted."""

    reason: str  # a short code counted in the metrics, e.g. "bad_json"
    detail: str  # a sentence for the operator
    payload: bytes
    topic: str | None = None
    device_id: str | None = None
    source: str = "mqtt"


@dataclass(slots=True)
class Decoded:
    """The decode/validate stages' output for a batch of messages."""

    fixes: list = field(default_factory=list)
    tacho: list = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
