import pytest
import shapely
from shapely.geometry import mapping

from geo.errors import GeoError
from geo.fences import VEHICLE_CLASSES, fence_applies, fence_from_feature
from rules.types import VEHICLE_CLASSES as RULES_CLASSES

SQUARE = {"type": "Polygon", "coordinates": [[[120.0, 36.0], [120.01, 36.0], [120.01, 36.01],
                                              [120.0, 36.01], [120.0, 36.0]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[120.0, 36.0], [120.01, 36.01], [120.01, 36.0],
                                              [120.0, 36.01], [120.0, 36.0]]]}
LINE = {"type": "LineString", "coordinates": [[120.0, 36.0], [120.05, 36.0]]}


def feature(geometry=SQUARE, **props):
    return {"type": "Feature", "geometry": geometry,
            "properties": {"name": "Zone", "kind": "restricted", **props}}


def test_vehicle_classes_match_the_shared_types():
    assert frozenset(RULES_CLASSES) == VEHICLE_CLASSES


def test_valid_restricted_fence():
    f = fence_from_feature(feature(classes=["muck_truck"], plates=["鲁B1"],
                                   schedule=[{"days": [1], "start": "07:00", "end": "09:00"}]),
                           id=3)
    assert f.id == 3 and f.kind == "restricted" and f.classes == {"muck_truck"}
    assert f.plates == {"鲁B1"} and f.schedule is not None and f.geometry.area > 0


def test_speed_zone_limits():
    f = fence_from_feature(feature(kind="speed", speed_limit={"coach": 100, "school_bus": 80}),
                           id=1)
    assert f.limit_for("coach") == 100 and f.limit_for("freight") is None
    g = fence_from_feature(feature(kind="speed", speed_limit=40), id=2)
    assert g.limit_for("freight") == 40


def test_route_needs_line_and_buffer():
    f = fence_from_feature(feature(LINE, kind="route", buffer_m=50), id=1)
    assert f.buffer_m == 50.0 and f.geometry.geom_type == "LineString"
    with pytest.raises(GeoError, match="buffer_m"):
        fence_from_feature(feature(LINE, kind="route"), id=1)
    with pytest.raises(GeoError, match="LineString"):
        fence_from_feature(feature(SQUARE, kind="route", buffer_m=50), id=1)


def test_bowtie_is_repaired_into_two_triangles():
    f = fence_from_feature(feature(BOWTIE), id=1)
    assert f.geometry.is_valid and f.geometry.geom_type == "MultiPolygon"
    assert f.geometry.area == pytest.approx(0.01 * 0.01 / 2)


def test_degenerate_polygon_is_refused():
    flat = {"type": "Polygon", "coordinates": [[[120.0, 36.0], [120.01, 36.0], [120.02, 36.0],
                                                [120.0, 36.0]]]}
    with pytest.raises(GeoError, match="no area"):
        fence_from_feature(feature(flat), id=1)


@pytest.mark.parametrize("change,match", [
    ({"kind": "parking"}, "kind"),
    ({"name": ""}, "name"),
    ({"classes": ["tank"]}, "unknown vehicle classes"),
    ({"classes": "coach"}, "classes"),
    ({"kind": "speed"}, "speed_limit"),
    ({"kind": "speed", "speed_limit": -5}, "speed_limit"),
    ({"kind": "speed", "speed_limit": {"tank": 5}}, "unknown vehicle classes"),
    ({"buffer_m": 0}, "buffer_m"),
    ({"schedule": [{"days": [9], "start": "07:00", "end": "08:00"}]}, "days"),
    ({"plates": [1]}, "plates"),
])
def test_bad_properties_are_refused(change, match):
    with pytest.raises(GeoError, match=match):
        fence_from_feature(feature(**change), id=1)


def test_bad_geometry_is_refused():
    with pytest.raises(GeoError):
        fence_from_feature(feature({"type": "Point", "coordinates": [120, 36]}), id=1)
    with pytest.raises(GeoError, match="WGS-84"):
        fence_from_feature(feature(mapping(shapely.box(200, 36, 201, 37))), id=1)
    with pytest.raises(GeoError):
        fence_from_feature(feature({"type": "Polygon", "coordinates": "nope"}), id=1)
    with pytest.raises(GeoError):
        fence_from_feature({"type": "Feature", "geometry": SQUARE}, id=1)


def test_applicability_by_class_plate_and_permit():
    f = fence_from_feature(feature(classes=["muck_truck"]), id=1)
    assert fence_applies(f, vehicle_class="muck_truck", plate="A", granted=frozenset())
    assert not fence_applies(f, vehicle_class="coach", plate="A", granted=frozenset())
    site = fence_from_feature(feature(kind="site", plates=["B"]), id=2)
    assert fence_applies(site, vehicle_class="coach", plate="B", granted=frozenset())
    assert not fence_applies(site, vehicle_class="coach", plate="A", granted=frozenset())
    assert fence_applies(site, vehicle_class="coach", plate="A", granted=frozenset({2}))
    # A permit grants routes and sites only, never lifts a restriction.
    assert not fence_applies(f, vehicle_class="coach", plate="A", granted=frozenset({1}))
