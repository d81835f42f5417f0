import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import mapping

from geo.crs import DEFAULT_CRS, to_metric, to_wgs84
from geo.districts import DistrictIndex
from geo.errors import GeoError
from geo.fences import fence_from_feature
from geo.index import FenceIndex


def area(i, geom, kind="restricted", **props):
    return fence_from_feature({"type": "Feature", "geometry": mapping(geom),
                               "properties": {"name": f"f{i}", "kind": kind, **props}}, id=i)


def random_fences(rng, n=60):
    fences = []
    for i in range(1, n + 1):
        lon, lat = rng.uniform(120.0, 120.2), rng.uniform(36.0, 36.2)
        fences.append(area(i, shapely.Point(lon, lat).buffer(rng.uniform(0.005, 0.03))))
    return fences


def test_crs_default_is_cm_120e_and_round_trips():
    assert DEFAULT_CRS == "EPSG:4549"
    x, y = to_metric(np.array([120.0]), np.array([36.0]))
    assert x[0] == pytest.approx(500000, abs=1e-3)
    lon, lat = to_wgs84(x, y)
    assert (lon[0], lat[0]) == pytest.approx((120.0, 36.0))


def test_bad_crs_is_a_geo_error():
    with pytest.raises(GeoError):
        FenceIndex([], crs="EPSG:999999")


def test_membership_matches_brute_force_shapely():
    rng = np.random.default_rng(7)
    fences = random_fences(rng)
    index = FenceIndex(fences)
    lon, lat = rng.uniform(119.98, 120.22, 3000), rng.uniform(35.98, 36.22, 3000)
    got = index.containing(lon, lat)
    for k in range(len(lon)):
        point = shapely.Point(lon[k], lat[k])
        # Fences are indexed in the metric CRS; only points within a few cm of a
        # boundary may differ from planar lon/lat tests, and random points never are.
        want = tuple(f.id for f in fences if f.geometry.covers(point))
        assert got[k] == want


def test_empty_inputs():
    index = FenceIndex([])
    assert index.containing(np.array([120.0]), np.array([36.0])) == [()]
    assert FenceIndex(random_fences(np.random.default_rng(1), 3)).containing(
        np.array([]), np.array([])) == []


def test_route_corridor_membership_and_distance():
    # A route along the central meridian (a straight line in the projection), so
    # the distance to it is the geodesic distance due east.
    route = area(5, shapely.LineString([(120.0, 36.0), (120.0, 36.1)]), kind="route",
                 buffer_m=100)
    index = FenceIndex([route])
    lon = np.array([120.0005, 120.001, 120.002])
    lat = np.full(3, 36.05)
    # 0.001 deg of longitude at 36.05N is ~90 m: 45 m inside, 90 m inside, 180 m outside.
    assert index.containing(lon, lat) == [(5,), (5,), ()]
    _, _, want = Geod(ellps="GRS80").inv(np.full(3, 120.0), lat, lon, lat)
    assert index.distance_m([5], lon, lat) == pytest.approx(want, rel=0.002)
    assert want[1] == pytest.approx(90.1, abs=0.3)
    # 0.001 deg of latitude ~ 111 m beyond the route's end.
    assert index.distance_m([5], np.array([120.0]), np.array([36.101])) == pytest.approx(
        111.0, rel=0.002)
    assert np.isinf(index.distance_m([], lon, lat)).all()
    with pytest.raises(GeoError):
        index.distance_m([99], lon, lat)


def test_duplicate_ids_refused():
    f = area(1, shapely.box(120, 36, 120.01, 36.01))
    with pytest.raises(GeoError):
        FenceIndex([f, f])


def test_lookup_by_kind_and_plate():
    a = area(1, shapely.box(120, 36, 120.01, 36.01), kind="site", plates=["P1"])
    b = area(2, shapely.box(120, 36, 120.01, 36.01), kind="watch")
    index = FenceIndex([a, b])
    assert index.by_kind == {"site": (1,), "watch": (2,)}
    assert index.by_plate == {"P1": (1,)}


def test_districts_lookup_first_wins_on_overlap():
    d = DistrictIndex([("370202", shapely.box(120.0, 36.0, 120.1, 36.1)),
                       ("370203", shapely.box(120.05, 36.0, 120.2, 36.1))])
    got = d.lookup(np.array([120.01, 120.07, 120.15, 121.0]), np.array([36.05] * 4))
    assert got == ["370202", "370202", "370203", None]
    with pytest.raises(GeoError):
        DistrictIndex([("", shapely.box(0, 0, 1, 1))])


def _brute_force(index, lon, lat):
    x, y = to_metric(lon, lat)
    points = shapely.points(x, y)
    return [tuple(i for i in sorted(index.fences)
                  if shapely.intersects(index.area_metric(i), points[k]))
            for k in range(len(points))]


def test_grid_prefilter_never_loses_a_point_at_a_fence_edge():
    rng = np.random.default_rng(11)
    fences = random_fences(rng, 20)
    fences.append(area(99, shapely.LineString([(120.0, 36.0), (120.2, 36.15)]), kind="route",
                       buffer_m=120))
    index = FenceIndex(fences)
    # Points on every area's boundary (back in lon/lat), nudged by up to ~1 m.
    rims = [shapely.get_coordinates(index.area_metric(f.id).exterior) for f in fences]
    xy = np.concatenate(rims) + rng.uniform(-1, 1, (sum(len(r) for r in rims), 2))
    lon, lat = to_wgs84(xy[:, 0], xy[:, 1])
    got = index.containing(lon, lat)
    assert got == _brute_force(index, lon, lat)
    assert sum(1 for z in got if z) > len(got) // 4  # the test does probe insides


def test_grid_prefilter_over_a_wide_extent_uses_coarse_cells():
    rng = np.random.default_rng(12)
    fences = [area(i, shapely.Point(lon, lat).buffer(0.02)) for i, (lon, lat) in
              enumerate(zip(rng.uniform(100, 125, 40), rng.uniform(20, 45, 40), strict=True), 1)]
    index = FenceIndex(fences, crs="EPSG:3857")
    lon = np.concatenate([rng.uniform(100, 125, 2000),
                          [shapely.get_coordinates(f.geometry)[0, 0] for f in fences]])
    lat = np.concatenate([rng.uniform(20, 45, 2000),
                          [shapely.get_coordinates(f.geometry)[0, 1] for f in fences]])
    x, y = to_metric(lon, lat, "EPSG:3857")
    points = shapely.points(x, y)
    want = [tuple(i for i in sorted(index.fences)
                  if shapely.intersects(index.area_metric(i), points[k]))
            for k in range(len(points))]
    assert index.containing(lon, lat) == want
    assert index.containing(np.array([np.nan]), np.array([36.0])) == [()]
