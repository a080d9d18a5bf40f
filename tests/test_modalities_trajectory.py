"""Trajectory modality: ETH-UCY TSVs, GPX (projected to metres and back), CSV headers, payloads, the encoder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from allspark.errors import InputError
from allspark.modalities import get
from allspark.modalities.trajectory import resample

pytest.importorskip("rasterio")  # the local metric frame for lon / lat uses rasterio's PROJ


def test_eth_ucy_windows(shared_data):
    tr = get("trajectory")
    ls = tr.read_labelled(shared_data / "trajectory_eth_ucy" / "val")
    assert ls.targets.shape == (len(ls.samples), 12, 2) and ls.targets.dtype == np.float32
    assert set(np.unique(ls.groups)) == {"biwi_hotel", "crowds_zara01", "crowds_zara02", "crowds_zara03",
                                         "students001", "students003", "uni_examples"}
    s = ls.samples[0]
    assert s.data["xy"].shape == (8, 2) and np.allclose(np.diff(s.data["t"]), 0.4)
    assert s.meta["origin"] == list(s.data["xy"][-1])
    # targets are metres relative to the last observed point; pedestrians walk < 3 m/s
    step = np.linalg.norm(np.diff(np.concatenate([np.zeros((len(ls.targets), 1, 2)), ls.targets], 1), axis=1), axis=-1)
    assert np.median(step) < 1.2 and step.max() < 5
    one = tr.read_labelled(shared_data / "trajectory_eth_ucy" / "val" / "biwi_hotel_val.txt")
    assert set(one.groups) == {"biwi_hotel"} and len(one.samples) < len(ls.samples)


def test_eth_ucy_last_observed(shared_data):
    tr = get("trajectory")
    s = tr.read(shared_data / "trajectory_eth_ucy" / "val" / "crowds_zara01_val.txt")
    assert len(s) > 10 and all(x.data["xy"].shape == (8, 2) for x in s)
    assert len(s) + len(s[0].meta["skipped_tracks"]) >= 29  # 29 pedestrians; gaps may split a few
    spec = tr.default_spec(s)
    for x in s:
        tr.check(x, spec)
    st = tr.normalise_stats(s, spec)
    inp = tr.to_inputs(s, spec, st)
    assert inp["obs"].shape == (len(s), 8, 4) and inp["obs"].dtype == np.float32
    assert np.allclose(inp["obs"][:, -1, :2], 0)  # relative to the last observed point


def test_resample_and_gaps():
    t = np.array([0.0, 1.0, 2.0, 10.0, 11.0])
    xy = np.array([[0, 0], [1, 0], [2, 0], [0, 0], [1, 1]], float)
    pieces = resample(t, xy, dt=0.4, max_gap=1.0)
    assert len(pieces) == 2
    g, p = pieces[0]
    assert np.allclose(g, [0, 0.4, 0.8, 1.2, 1.6, 2.0]) and np.allclose(p[:, 0], g)
    g2, _ = resample(np.array([0.0, 1.0]), np.zeros((2, 2)), dt=0.4)[0]
    assert np.allclose(g2, [0.2, 0.6, 1.0])  # anchored at the latest point


def gpx(tracks, with_time=True):
    out = ['<?xml version="1.0"?>', '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">']
    for name, pts in tracks:
        out.append(f"<trk><name>{name}</name><trkseg>")
        for t, lon, lat in pts:
            tt = f"<time>2024-05-01T10:{int(t) // 60:02d}:{t % 60:06.3f}Z</time>" if with_time else ""
            out.append(f'<trkpt lat="{lat:.9f}" lon="{lon:.9f}">{tt}</trkpt>')
        out.append("</trkseg></trk>")
    out.append("</gpx>")
    return "\n".join(out)


def walker(n, lon0=7.0, lat0=45.0, speed=1.2, heading_deg=90.0):
    """n points, 1 s apart, walking `speed` m/s on a heading (90 = east)."""
    m_per_deg_lat = 111_132.0
    m_per_deg_lon = 111_320.0 * math.cos(math.radians(lat0))
    h = math.radians(heading_deg)
    return [(float(i), lon0 + speed * i * math.sin(h) / m_per_deg_lon, lat0 + speed * i * math.cos(h) / m_per_deg_lat)
            for i in range(n)]


def test_gpx_tracks_projected_and_back(tmp_path):
    p = tmp_path / "walk.gpx"
    p.write_text(gpx([("east", walker(30)), ("north", walker(12, lon0=7.001, heading_deg=0.0))]))
    tr = get("trajectory")
    s = tr.read(p)
    assert [x.meta["track"] for x in s] == ["east", "north"]
    east = s[0]
    assert "Azimuthal_Equidistant" in east.meta["crs"] or "aeqd" in east.meta["crs"].lower()
    assert np.allclose(np.diff(east.data["t"]), 0.4)  # 1 Hz resampled to 0.4 s
    v = np.diff(east.data["xy"], axis=0) / 0.4
    np.testing.assert_allclose(v[:, 0], 1.2, rtol=0.01)
    np.testing.assert_allclose(v[:, 1], 0.0, atol=0.01)
    # predictions (metres from the last observed point) go back to lon / lat
    back = tr.to_input_coords(east, np.array([[0.0, 0.0], [12.0, 0.0]]))
    last_lon, last_lat = walker(30)[-1][1:]
    assert back[0, 0] == pytest.approx(last_lon, abs=1e-7) and back[0, 1] == pytest.approx(last_lat, abs=1e-7)
    assert (back[1, 0] - last_lon) * 111_320.0 * math.cos(math.radians(45)) == pytest.approx(12.0, rel=0.01)
    ls = tr.read_labelled(p)  # 29 s of walking = 73 steps -> 54 windows; the 11 s track has 28 steps -> 9
    assert len(ls.samples) == (73 - 20 + 1) + (28 - 20 + 1)
    np.testing.assert_allclose(ls.targets[0, :, 0], 0.48 * np.arange(1, 13), rtol=0.01)


def test_gpx_errors(tmp_path):
    tr = get("trajectory")
    short = tmp_path / "short.gpx"
    short.write_text(gpx([("a", walker(2))]))  # 1 s of track = 3 points at 0.4 s
    with pytest.raises(InputError, match="too few trajectory points"):
        tr.read(short)
    notime = tmp_path / "notime.gpx"
    notime.write_text(gpx([("a", walker(20))], with_time=False))
    with pytest.raises(InputError, match="without <time>"):
        tr.read(notime)
    broken = tmp_path / "broken.gpx"
    broken.write_text("<gpx><trk><trkseg><trkpt lat=")
    with pytest.raises(InputError, match="cannot read .*broken.gpx"):
        tr.read(broken)


def test_csv_with_header_and_checks(tmp_path):
    rows = ["time,track_id,x,y"] + [f"{i * 0.4:.1f},7,{i * 0.5},{2.0}" for i in range(10)] + \
           [f"{i * 0.4:.1f},8,{i},{i}" for i in range(5)]
    p = tmp_path / "tracks.csv"
    p.write_text("\n".join(rows))
    tr = get("trajectory")
    s = tr.read(p, crs="EPSG:32633")
    assert len(s) == 1 and s[0].meta["track"] == 7 and s[0].meta["skipped_tracks"] == [{"track": 8, "points": 5}]
    assert s[0].meta["crs"] and s[0].meta["frame"] is None
    np.testing.assert_allclose(s[0].data["xy"][:, 0], 0.5 * np.arange(2, 10))
    spec = tr.default_spec()
    bad = s[0]
    bad.data["xy"] = bad.data["xy"][:5]
    with pytest.raises(InputError, match="too few trajectory points.*has 5.*needs 8"):
        tr.check(bad, spec)
    bad.data["xy"] = np.full((8, 2), np.nan)
    with pytest.raises(InputError, match="NaN"):
        tr.check(bad, spec)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(InputError, match="empty"):
        tr.read(tmp_path / "empty.txt")
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="missing columns"):
        tr.read(tmp_path / "cols.csv")


def test_trajectory_payload_round_trip(shared_data, tmp_path):
    tr = get("trajectory")
    f = shared_data / "trajectory_eth_ucy" / "val" / "uni_examples_val.txt"
    a = np.loadtxt(f)
    from_file = tr.read(f)
    pay = tr.from_payload({"xy": a[:, 2:4], "t": a[:, 0] * 0.04, "track": a[:, 1].astype(np.int64)}, {"crs": None})
    assert [s.meta["track"] for s in pay] == [s.meta["track"] for s in from_file]
    for x, y in zip(pay, from_file):
        np.testing.assert_allclose(x.data["xy"], y.data["xy"])
    # lon / lat payload (a QGIS layer in EPSG:4326): projected like GPX, and back
    pts = walker(20)
    ll = tr.from_payload({"xy": np.array([p[1:] for p in pts]), "t": np.array([p[0] for p in pts]),
                          "track": np.zeros(20, np.int64)}, {"crs": "EPSG:4326"})
    assert ll[0].meta["frame"] is not None
    np.testing.assert_allclose(tr.to_input_coords(ll[0], np.zeros(2)), pts[-1][1:], atol=1e-7)
    with pytest.raises(InputError, match="empty"):
        tr.from_payload({"xy": np.zeros((0, 2)), "t": np.zeros(0), "track": np.zeros(0)}, {})


def test_trajectory_encoder(shared_data):
    import torch

    tr = get("trajectory")
    ls = tr.read_labelled(shared_data / "trajectory_eth_ucy" / "val" / "biwi_hotel_val.txt")
    spec = tr.default_spec(ls.samples)
    st = tr.normalise_stats(ls.samples, spec, targets=ls.targets)
    assert 0.1 < st["scale"] < 10 and st["target_scale"] > 0
    x = tr.to_inputs(ls.samples[:10], spec, st)
    enc = tr.build_encoder(spec).eval()
    with torch.no_grad():
        tok = enc(obs=torch.from_numpy(x["obs"]))
    assert tuple(tok.shape) == (10, 8, 128)


def test_augmentation_turns_the_future_with_the_past():
    """Stage 1's augmentation turns, mirrors and speeds up each track and its future together: a walker
    going straight on still goes straight on, at the same multiple of the (new) last step."""
    import torch

    traj = get("trajectory")
    b = 64
    g = torch.Generator().manual_seed(0)
    v = torch.randn(b, 2, generator=g)
    steps = torch.arange(-7, 1, dtype=torch.float32)[None, :, None]
    rel = v[:, None] * steps  # positions relative to the last one, constant velocity
    vel = v[:, None].expand(-1, 8, -1).clone()
    vel[:, 0] = 0
    inputs = {"obs": torch.cat([rel / 2.0, vel / 0.5], -1)}
    future = v[:, None] * torch.arange(1, 13, dtype=torch.float32)[None, :, None] / 2.0
    out, fut = traj.augment(inputs, future, g)
    new_v = out["obs"][:, -1, 2:4] * 0.5
    torch.testing.assert_close(fut * 2.0, new_v[:, None] * torch.arange(1, 13, dtype=torch.float32)[None, :, None],
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["obs"][:, :, :2] * 2.0, new_v[:, None] * steps, rtol=1e-4, atol=1e-5)
    # and it did change them: headings spread over the circle, speeds within 25%
    turned = torch.atan2(new_v[:, 1], new_v[:, 0]) - torch.atan2(v[:, 1], v[:, 0])
    assert torch.cos(turned).min() < 0 and torch.cos(turned).max() > 0.5
    ratio = new_v.norm(dim=1) / v.norm(dim=1)
    assert 0.74 <= ratio.min() and ratio.max() <= 1.26 and ratio.std() > 0.05
