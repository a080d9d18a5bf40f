"""Table modality: PRSA Beijing CSVs, generic CSV / GeoPackage attributes, payloads, the TabFormer encoder."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from allspark.errors import InputError
from allspark.modalities import get
from allspark.modalities import table as tablemod

STATION = "PRSA_Data_Aotizhongxin_20130301-20160229.csv"


def test_prsa_station(shared_data):
    tab = get("table")
    ls = tab.read_labelled(shared_data / "table_prsa_beijing" / STATION)
    assert ls.info["rows_read"] == 26304 and ls.info["rows_missing_target"] == 746
    assert len(ls.samples) == 26304 - 746 and ls.targets.shape == (len(ls.samples), 1)
    assert np.isfinite(ls.targets).all() and ls.target_info == [{"name": "PM2.5", "unit": "ug/m3"}]
    c = ls.samples[0].meta["columns"]
    assert c["categorical"] == ["month", "hour", "station", "wd"]
    assert c["numeric"] == ["year", "day", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM"]
    assert "PM2.5" not in c["numeric"] and "PM10" not in c["numeric"]
    # groups: year-month, time-ordered
    assert ls.groups[0] == 201303 and ls.groups[-1] == 201602 and len(np.unique(ls.groups)) == 36
    assert ls.info["split"] == "time"
    spec = tab.default_spec(ls.samples)
    st = tab.normalise_stats(ls.samples, spec, targets=ls.targets)
    assert sorted(st["categorical"]["wd"]) == sorted(["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW",
                                                      "SW", "WSW", "W", "WNW", "NW", "NNW"])
    assert st["categorical"]["station"] == ["Aotizhongxin"] and len(st["categorical"]["hour"]) == 24
    assert 70 < st["target"]["mean"][0] < 95 and 900 < st["numeric"]["PRES"]["mean"] < 1100
    x = tab.to_inputs(ls.samples[:500], spec, st)
    assert x["num"].shape == (500, 11) and x["num_mask"].shape == (500, 11) and x["cat"].shape == (500, 4)
    assert all(v.dtype == np.float32 for v in x.values()) and np.isfinite(x["num"]).all()
    assert (x["num_mask"] == 0).any()  # PRSA has missing CO / O3 / ... values
    assert (x["cat"][:, 2] == 2).all() and (x["cat"][:, :3] >= 2).all()  # station, month, hour: known values
    for s in ls.samples[:50]:
        tab.check(s, spec)


def test_prsa_folder_subsampled(shared_data):
    ls = get("table").read_labelled(shared_data / "table_prsa_beijing", max_rows=200)
    assert len(ls.info["files"]) == 12 and ls.info["rows_read"] == 12 * 200
    st = get("table").normalise_stats(ls.samples, get("table").default_spec(ls.samples))
    assert len(st["categorical"]["station"]) == 12
    cls = get("table").read_labelled(shared_data / "table_prsa_beijing" / STATION, target="wd", max_rows=3000)
    assert cls.targets.dtype == np.int64 and len(cls.classes) == 16 and cls.target_info is None


def write_csv(path, text):
    path.write_text(text)
    return path


def test_csv_missing_values_and_unseen_categories(tmp_path):
    p = write_csv(tmp_path / "t.csv", "id,a,b,kind\n1,1.5,NA,x\n2,,2.0,y\n3,3.5,4.0,\n4,NaN,null,x\n")
    tab = get("table")
    s = tab.read(p)
    assert len(s) == 4 and s[0].meta["columns"] == {"numeric": ["a", "b"], "categorical": ["kind"]}
    assert s[0].meta["source"].endswith("t.csv") and s[3].meta["fid"] == 3
    spec = tab.default_spec(s)
    st = tab.normalise_stats(s, spec)
    assert st["numeric"]["a"]["mean"] == pytest.approx(2.5) and st["categorical"]["kind"] == ["x", "y"]
    x = tab.to_inputs(s, spec, st)
    assert x["num_mask"].tolist() == [[1, 0], [0, 1], [1, 1], [0, 0]]
    assert x["cat"][:, 0].tolist() == [2, 3, 0, 2]  # 0 = missing, 2.. = vocabulary
    other = tab.read(write_csv(tmp_path / "u.csv", "a,b,kind\n1,2,zebra\n"))
    assert tab.to_inputs(other, spec, st)["cat"].tolist() == [[1]]  # 1 = unseen value
    with pytest.raises(InputError, match="every feature .* missing"):
        tab.check(tab.read(write_csv(tmp_path / "v.csv", "a,b,kind\nNA,,\n5,6,x\n"))[0], spec)


def test_csv_errors(tmp_path):
    tab = get("table")
    with pytest.raises(InputError, match="empty"):
        tab.read(write_csv(tmp_path / "e.csv", ""))
    with pytest.raises(InputError, match="no rows"):
        tab.read(write_csv(tmp_path / "h.csv", "a,b,c\n"))
    with pytest.raises(InputError, match="cannot read"):
        tab.read(tmp_path / "missing.csv")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01\x02PK\x00\x00")
    with pytest.raises(InputError, match="cannot read"):
        tab.read(tmp_path / "bin.csv")
    s = tab.read(write_csv(tmp_path / "m.csv", "a,c\n1,2\n"))
    with pytest.raises(InputError, match="missing columns b"):
        tab.check(s[0], {"input": {"numeric": ["a", "b"], "categorical": []}})
    with pytest.raises(InputError, match="missing target column 'PM2.5'"):
        tab.read_labelled(tmp_path / "m.csv")
    with pytest.raises(InputError, match="missing columns"):
        tab.read(tmp_path / "m.csv", features=["a", "zz"])


def make_gpkg_sqlite(path):
    """A minimal GeoPackage written with sqlite3 (features table with a geometry column)."""
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT, identifier TEXT);
        CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT,
            srs_id INTEGER, z TINYINT, m TINYINT);
        CREATE TABLE sites (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom BLOB, so2 REAL, name TEXT, pm25 REAL);
        INSERT INTO gpkg_contents VALUES ('sites', 'features', 'sites');
        INSERT INTO gpkg_geometry_columns VALUES ('sites', 'geom', 'POINT', 4326, 0, 0);
        INSERT INTO sites (geom, so2, name, pm25) VALUES (NULL, 4.0, 'a', 10), (NULL, NULL, 'b', 20), (NULL, 6.5, NULL, NULL);
    """)
    con.commit()
    con.close()
    return path


def test_gpkg_via_sqlite(tmp_path):
    p = make_gpkg_sqlite(tmp_path / "sites.gpkg")
    attrs, raw, fids = tablemod._gpkg_sqlite(str(p))
    assert attrs == ["so2", "name", "pm25"] and fids.tolist() == [1, 2, 3]
    with pytest.raises(InputError, match="no layer 'x'"):
        tablemod._gpkg_sqlite(str(p), layer="x")


def test_gpkg_via_ogr(tmp_path):
    ogr = pytest.importorskip("osgeo.ogr")
    osr = pytest.importorskip("osgeo.osr")
    ogr.UseExceptions()
    p = str(tmp_path / "stations.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(p)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    lyr = ds.CreateLayer("stations", srs, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("SO2", ogr.OFTReal))
    lyr.CreateField(ogr.FieldDefn("wd", ogr.OFTString))
    lyr.CreateField(ogr.FieldDefn("PM2.5", ogr.OFTReal))
    for i, (so2, wd, pm) in enumerate([(3.0, "N", 12.0), (None, "NE", 30.0), (7.5, None, None), (1.0, "N", 5.0)]):
        f = ogr.Feature(lyr.GetLayerDefn())
        if so2 is not None:
            f.SetField("SO2", so2)
        if wd is not None:
            f.SetField("wd", wd)
        if pm is not None:
            f.SetField("PM2.5", pm)
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({116 + i * 0.1} 40)"))
        lyr.CreateFeature(f)
    ds = None
    tab = get("table")
    s = tab.read(p)
    assert len(s) == 4 and s[0].meta["columns"] == {"numeric": ["SO2", "PM2.5"], "categorical": ["wd"]}
    assert np.isnan(s[1].data["num"][0]) and s[2].data["cat"][0] is None
    ls = tab.read_labelled(p, target="PM2.5")
    assert len(ls.samples) == 3 and ls.targets[:, 0].tolist() == [12.0, 30.0, 5.0] and ls.groups is None
    with pytest.raises(InputError, match="no layer"):
        tab.read(p, layer="nope")


def test_table_payload_round_trip(tmp_path):
    tab = get("table")
    p = write_csv(tmp_path / "t.csv", "so2,wd,temp\n1.0,N,5\n2.0,NE,NA\n3.0,,7\n")
    from_file = tab.read(p)
    arrays = {"col:so2": np.array([1.0, 2.0, 3.0]), "col:temp": np.array([5.0, np.nan, 7.0])}
    meta = {"categorical": {"wd": ["N", "NE", None]}, "fids": [10, 11, 12]}
    from_pay = tab.from_payload(arrays, meta)
    assert [s.meta["fid"] for s in from_pay] == [10, 11, 12]
    spec = tab.default_spec(from_file)
    st = tab.normalise_stats(from_file, spec)
    a, b = tab.to_inputs(from_file, spec, st), tab.to_inputs(from_pay, spec, st)
    for k in a:
        np.testing.assert_allclose(a[k], b[k])
    assert len(tab.from_payload({}, {"path": str(p)})) == 3
    with pytest.raises(InputError, match="different lengths"):
        tab.from_payload({"col:a": np.zeros(3), "col:b": np.zeros(2)}, {})
    with pytest.raises(InputError, match="no columns"):
        tab.from_payload({}, {})


def test_tabformer_encoder(shared_data):
    import torch

    tab = get("table")
    ls = tab.read_labelled(shared_data / "table_prsa_beijing" / STATION, max_rows=400)
    spec = tab.default_spec(ls.samples)
    st = tab.normalise_stats(ls.samples, spec)
    x = tab.to_inputs(ls.samples[:16], spec, st)
    enc = tab.build_encoder(spec).eval()
    with torch.no_grad():
        tok = enc(**{k: torch.from_numpy(v) for k, v in x.items()})
    assert tuple(tok.shape) == (16, 1 + 11 + 4, 128)
    # a missing value changes its column's token (mask token), not the others' inputs
    x2 = {k: v.copy() for k, v in x.items()}
    x2["num_mask"][:, 3] = 0
    with torch.no_grad():
        tok2 = enc(**{k: torch.from_numpy(v) for k, v in x2.items()})
    assert not torch.allclose(tok, tok2)
