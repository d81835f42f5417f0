"""Every sample track (``sample_tracks/tracks/manifest.json``) through the engine:
the incidents per rule must be exactly the manifest's, whatever the batch size.

Fires must fire and near misses must not; rules a file does not list must
stay silent too (the sample city is built so that nothing else happens).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.rules.sample_city import incidents, manifest, read_track, replay

BATCHES = (1, 10, None)  # rows per engine call; None = the whole file at once


def _scenarios() -> list[dict]:
    by_file: dict[str, dict] = {}
    for entry in manifest():
        if entry["rule"] == "demo":
            continue
        seen = by_file.setdefault(entry["file"], entry)
        assert seen["incidents"] == entry["incidents"], entry["file"]
    return list(by_file.values())


SCENARIOS = _scenarios()


def _key(events):
    return [(e.rule, e.action, e.key, e.ts) for e in events]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["file"][:-4] for s in SCENARIOS])
def test_track_gives_the_manifest_incidents(scenario):
    tracks = read_track(scenario["file"], datetime.fromisoformat(scenario["start"]))
    assert sorted(tracks) == sorted(scenario["devices"])
    expected = {rule: n for rule, n in scenario["incidents"].items() if n}
    first = None
    for batch in BATCHES:
        events = [e for dev, rows in sorted(tracks.items()) for e in replay(dev, rows, batch)]
        assert incidents(events) == expected, f"batch={batch}: {_key(events)}"
        if first is None:
            first = _key(events)
        else:
            assert _key(events) == first, f"batch={batch} differs from batch=1"


def test_every_rule_has_a_fire_and_a_near_miss():
    seen: dict[str, set[str]] = {}
    for entry in manifest():
        seen.setdefault(entry["rule"], set()).add(entry["expect"])
    for rule, kinds in seen.items():
        if rule != "demo":
            assert kinds == {"fires", "near_miss"}, rule
