"""What the main ingest session knows of the slots' coverage (ingest.slots).

A slot announces the devices it subscribed (retained, after the broker's SUBACK) on
``kw/v1/ingest/{group}/slot/{k}``; main receives the announcement in order with the
devices' messages and skips their messages from then on. ``Coverage`` is main's
record of that: what it has seen (paho's thread decides what to skip) and what it has
applied (everything received before it committed and acknowledged), the latter saved
as main's retained state so that a resumed main starts from it.
"""

from __future__ import annotations

import json


def announcement(slots: int, k: int, devices: frozenset[str]) -> bytes:
    return json.dumps({"slots": slots, "slot": k, "devices": sorted(devices)}).encode()


class Coverage:
    """The devices the slots cover, as main's own message stream tells it.

    ``seen`` follows announcements as they arrive (paho's thread decides what to
    skip); ``applied`` follows them once everything received before them is
    committed and acknowledged, and is what a resumed main starts from.
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.applied: dict[int, frozenset[str]] = {}
        self._seen: dict[str, int] = {}  # device → slot

    def covers(self, device: str) -> bool:
        return device in self._seen

    def parse(self, payload: bytes | None) -> tuple[int, frozenset[str]] | None:
        try:
            body = json.loads(payload or b"null")
            if body["slots"] != self.slots or not 0 <= body["slot"] < self.slots:
                return None  # another S: not ours (see docs/scale.md on changing S)
            return body["slot"], frozenset(body["devices"])
        except (ValueError, TypeError, KeyError):
            return None

    def see(self, payload: bytes) -> bool:
        parsed = self.parse(payload)
        if parsed is None:
            return False
        k, devices = parsed
        seen = {d: s for d, s in self._seen.items() if s != k}
        seen.update(dict.fromkeys(devices, k))
        self._seen = seen  # swapped whole: readers in other threads see old or new
        return True

    def apply(self, payloads: list[bytes]) -> bool:
        applied = dict(self.applied)
        for payload in payloads:
            parsed = self.parse(payload)
            if parsed is not None:
                applied[parsed[0]] = parsed[1]
        changed, self.applied = applied != self.applied, applied
        return changed

    def restore(self, payload: bytes | None) -> None:
        try:
            body = json.loads(payload or b"null") or {}
            covered = body.get("covered", {}) if body.get("slots") == self.slots else {}
            self.applied = {int(k): frozenset(v) for k, v in covered.items()}
        except (ValueError, TypeError, AttributeError):
            self.applied = {}

    def resume(self, session_present: bool) -> None:
        """On connect: a resumed session continues after what was applied; a new one
        starts from nothing (the retained announcements arrive first)."""
        if not session_present:
            self.applied = {}
        self._seen = {d: k for k, devices in self.applied.items() for d in devices}

    def state(self) -> bytes:
        return json.dumps({"slots": self.slots, "covered": {
            str(k): sorted(v) for k, v in sorted(self.applied.items())}}).encode()
