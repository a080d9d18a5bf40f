"""Point cloud: airborne / terrestrial lidar (LAS, LAZ, COPC) and object point sets; per-point ground
classification and whole-sample classification.

Reader: PDAL when importable, else laspy (+ lazrs for LAZ / COPC). x, y, z in the file's units, plus
intensity, return number, number of returns, and classification when present; the CRS comes from the
header's WKT VLR or its GeoTIFF keys. Units: the CRS's linear unit (Autzen is in international feet);
`tile=` (default 20) is in metres and converted to file units. The cloud is cut into square tiles on
a grid aligned to multiples of the tile size; a tile with more than `points=` (default 2048) points is
randomly downsampled (seeded). Every tile records an index map so per-point results go back to every
point: meta `index` (K,) the file indexes of the kept points, `point_index` (n,) all the tile's
points, `nearest` (n,) for each of those the kept point nearest to it (`expand` applies the map).

Sample: data `points` (K, 3 + 3) float32: x, y relative to the tile centre and z relative to the
tile's 2nd-percentile height, in metres, then intensity, return number, number of returns. meta
`tile`, `tile_bounds`, `origin`, `units_to_m`, `crs`, `source`, `classification` (K,) when present.

Object point sets for whole-sample classification (ModelNet-style folder per class): `.off` meshes
(points sampled on the faces), `.txt` / `.xyz` / `.pts` / `.csv` (x, y, z[, ...] per line), `.npy`
(K, 3+); centred and scaled to the unit sphere, one sample per file.

Labels (`read_labelled`, task point_classification): per point 1 = ground (LAS class 2), 0 = other,
-1 = padding; split groups = tile id. NOTE Autzen's ground labels are partial (about a third of the
points near the local lowest point carry class 2, 12-90 % per tile): info `ground_share_per_tile`.

Encoder (PointBERT-style): farthest-point sampling of G centres, kNN groups of N points, a
mini-PointNet (Conv1d) per group, an MLP position embedding of the centres, a class token and a
small transformer. Dense encoders (encoder.dense; default_spec sets it for lidar tiles) also return per-point
elements (B, P, element_dim): the group tokens, projected to element_dim, interpolated to every point
(3 nearest centres, inverse distance) plus a per-point MLP. Widths are kept small (group_widths,
element_dim) because this part runs on every point: the pipeline must cost little beside the LLM.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from ..errors import InputError
from .base import LabelledSet, Modality, Sample, fit_mean_std, need_samples, register, required_array
from .options import PointCloudOptions

LIDAR_TYPES = [".las", ".laz"]  # COPC files are .copc.laz
OBJECT_TYPES = [".off", ".txt", ".xyz", ".pts", ".csv", ".npy"]
FEATURES = ["intensity", "return_number", "number_of_returns"]
GROUND_CLASS = 2
DENSE_TASKS = ("point_classification",)


# ---- reading --------------------------------------------------------------------------------------


class Cloud:
    def __init__(self, xyz, feats, classification, crs, units_h, units_v, source):
        self.xyz, self.feats, self.classification = xyz, feats, classification
        self.crs, self.units_h, self.units_v, self.source = crs, units_h, units_v, source


def _units(wkt) -> tuple[float, float]:
    """(horizontal, vertical) metres per file unit from a WKT (1, 1 when unknown)."""
    if not wkt:
        return 1.0, 1.0
    try:
        from rasterio.crs import CRS

        c = CRS.from_wkt(wkt)
        h = float(c.linear_units_factor[1]) if c.is_projected else 1.0
    except Exception:
        h = 1.0
    v = h
    up = wkt.upper()
    if up.startswith("COMPD_CS") or up.startswith("COMPOUNDCRS"):
        tail = up[up.find("VERT_CS") if "VERT_CS" in up else up.find("VERTCRS"):]
        if "US SURVEY FOOT" in tail or "FOOT_US" in tail:
            v = 0.304800609601219
        elif "FOOT" in tail:
            v = 0.3048
        elif "METRE" in tail or "METER" in tail:
            v = 1.0
    return h, v


_GEOKEY_UNITS = {9001: 1.0, 9002: 0.3048, 9003: 0.304800609601219}


def _laspy_crs(header) -> tuple[str | None, float, float]:
    wkt = None
    for v in list(header.vlrs) + list(header.evlrs or []):
        if type(v).__name__ == "WktCoordinateSystemVlr":
            wkt = v.string.strip("\x00 ")
            break
    if wkt is None:
        try:
            c = header.parse_crs()  # pyproj, when installed
            wkt = c.to_wkt(version="WKT1_GDAL") if c is not None else None
        except Exception:
            wkt = None
    if wkt is None:  # GeoTIFF keys: an EPSG code or at least the linear unit
        for v in header.vlrs:
            if type(v).__name__ == "GeoKeyDirectoryVlr":
                keys = {k.id: k.value_offset for k in v.geo_keys}
                epsg = keys.get(3072)
                if epsg and epsg != 32767:
                    try:
                        from rasterio.crs import CRS

                        wkt = CRS.from_epsg(int(epsg)).to_wkt()
                    except Exception:
                        wkt = None
                if wkt is None:
                    u = _GEOKEY_UNITS.get(keys.get(3076), 1.0)
                    vu = _GEOKEY_UNITS.get(keys.get(4099), u)
                    return None, u, vu
    h, vv = _units(wkt)
    return wkt, h, vv


def _read_laspy(path) -> Cloud:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # laspy imports pyproj, which may warn about its data folder
        try:
            import laspy
        except ImportError:  # pragma: no cover
            raise InputError("reading LAS / LAZ needs the laspy package (pip install laspy lazrs)") from None
    try:
        las = laspy.read(path)
    except Exception as e:
        raise InputError(f"cannot read {path}: {e}") from None
    xyz = np.stack([np.asarray(las.x, np.float64), np.asarray(las.y, np.float64), np.asarray(las.z, np.float64)], 1)
    dims = set(las.point_format.dimension_names)
    feats = np.stack([np.asarray(getattr(las, f), np.float32) if f in dims else np.zeros(len(xyz), np.float32)
                      for f in FEATURES], 1) if len(xyz) else np.zeros((0, len(FEATURES)), np.float32)
    cls = np.asarray(las.classification, np.int64) if "classification" in dims else None
    wkt, h, v = _laspy_crs(las.header)
    return Cloud(xyz, feats, cls, wkt, h, v, path)


def _read_pdal(path) -> Cloud:
    import pdal  # noqa: F401  (only when importable)

    p = pdal.Reader(path).pipeline()
    p.execute()
    a = p.arrays[0]
    names = a.dtype.names
    xyz = np.stack([a["X"], a["Y"], a["Z"]], 1).astype(np.float64)
    pd_names = {"intensity": "Intensity", "return_number": "ReturnNumber", "number_of_returns": "NumberOfReturns"}
    feats = np.stack([a[pd_names[f]].astype(np.float32) if pd_names[f] in names else np.zeros(len(a), np.float32)
                      for f in FEATURES], 1)
    cls = a["Classification"].astype(np.int64) if "Classification" in names else None
    wkt = getattr(p, "srswkt2", None) or None
    h, v = _units(wkt)
    return Cloud(xyz, feats, cls, wkt, h, v, path)


def read_cloud(path, engine="auto") -> Cloud:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file")
    if os.path.getsize(path) == 0:
        raise InputError(f"cannot read {path}: the file is empty")
    if engine in ("auto", "pdal"):
        try:
            import pdal  # noqa: F401

            try:
                return _read_pdal(path)
            except Exception as e:
                if engine == "pdal":
                    raise InputError(f"cannot read {path}: {e}") from None
        except ImportError:
            if engine == "pdal":
                raise InputError("PDAL's Python bindings are not installed") from None
    return _read_laspy(path)


def _read_object(path, points=2048, seed=0) -> np.ndarray:
    """An object point set (K, 3+) from .off / text / .npy."""
    ext = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file")
    try:
        if ext == ".npy":
            a = np.load(path, allow_pickle=False)
        elif ext == ".off":
            a = _off_points(path, points, seed)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                a = np.loadtxt(path, delimiter="," if ext == ".csv" or _has_comma(path) else None, ndmin=2)
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"cannot read {path}: {e}") from None
    a = np.asarray(a, np.float64)
    if a.ndim != 2 or a.shape[1] < 3:
        raise InputError(f"cannot read {path}: expected (points, 3+) coordinates, got shape {a.shape}")
    return a


def _has_comma(path):
    with open(path, "r", errors="replace") as f:
        return "," in f.readline()


def _off_points(path, n, seed):
    with open(path, "r", errors="replace") as f:
        tokens = f.read().split()
    if not tokens or not tokens[0].upper().startswith("OFF"):
        raise InputError(f"cannot read {path}: not an OFF file")
    head = tokens[0][3:]  # ModelNet quirk: "OFF490 999 0" on one line
    rest = ([head] if head else []) + tokens[1:]
    nv, nf = int(rest[0]), int(rest[1])
    v = np.array(rest[3 : 3 + 3 * nv], np.float64).reshape(nv, 3)
    faces, k = [], 3 + 3 * nv
    for _ in range(nf):
        m = int(rest[k])
        idx = [int(x) for x in rest[k + 1 : k + 1 + m]]
        faces += [(idx[0], idx[j], idx[j + 1]) for j in range(1, m - 1)]
        k += 1 + m
    if not faces:
        return v
    f = np.array(faces)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    if area.sum() <= 0:
        return v
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(f), n, p=area / area.sum())
    r1, r2 = np.sqrt(rng.random((n, 1))), rng.random((n, 1))
    return (1 - r1) * a[pick] + r1 * (1 - r2) * b[pick] + r1 * r2 * c[pick]


def _nearest(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For each row of src, the index of the nearest row of dst (scipy's cKDTree when importable)."""
    if len(dst) == 0:
        return np.zeros(len(src), np.int64)
    try:
        from scipy.spatial import cKDTree

        return cKDTree(dst).query(src, k=1)[1].astype(np.int64)
    except Exception:
        out = np.empty(len(src), np.int64)
        d2 = (dst ** 2).sum(1)
        for a in range(0, len(src), 4096):
            s = src[a : a + 4096]
            out[a : a + 4096] = np.argmin(d2[None] - 2 * s @ dst.T, axis=1)
        return out


# ---- the modality ---------------------------------------------------------------------------------


@register
class PointCloud(Modality):
    name = "pointcloud"
    title = "Point cloud"
    layer_kind = "pointcloud"
    tasks = ["point_classification", "classification"]
    file_types = LIDAR_TYPES + OBJECT_TYPES
    prompts = [
        "Classify the provided point cloud sample into the correct category",
        "Which class does each point of this lidar point cloud belong to: ground or not ground?",
        "Analyse the shape and structure of this point cloud and tell me what it shows",
    ]
    # heights: radii (m) of the "height above the lowest point within r" channels added to each point
    # (ground filters' classic cue; none by default, the shipped Autzen bundle uses 1, 2.5, 5 and 10 m)
    options_class = PointCloudOptions
    input_defaults = {"points": 2048, "tile": 20.0, "features": list(FEATURES), "xyz_scale": 10.0, "heights": []}
    encoder_defaults = {"type": "pointbert", "dim": 192, "depth": 4, "heads": 4, "groups": 64, "group_size": 32,
                        "mlp_ratio": 4.0, "dropout": 0.0, "dense": None, "group_widths": [32, 64, 128],
                        "element_dim": 64}

    # reading
    def tiles(self, cloud: Cloud, tile=20.0, points=2048, seed=0, min_points=1) -> list[Sample]:
        xyz = cloud.xyz
        if len(xyz) == 0:
            raise InputError(f"{cloud.source}: the point cloud is empty (0 points)")
        bad = ~np.isfinite(xyz).all(1)
        if bad.all():
            raise InputError(f"{cloud.source}: every point has NaN coordinates")
        t = float(tile) / cloud.units_h  # tile side in file units
        if t <= 0:
            raise InputError(f"tile must be positive; got {tile}")
        good = np.flatnonzero(~bad)
        ij = np.floor(xyz[good, :2] / t).astype(np.int64)
        keys, inv = np.unique(ij, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        order = np.argsort(inv, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(inv, minlength=len(keys)))]
        rng = np.random.default_rng(seed)
        out = []
        for k, (i, j) in enumerate(keys):
            idx = good[order[bounds[k] : bounds[k + 1]]]
            if len(idx) < min_points:
                continue
            out.append(self._tile_sample(cloud, idx, (i, j), t, points, rng, k))
        return out

    def _tile_sample(self, cloud, idx, ij, t, points, rng, k) -> Sample:
        xyz = cloud.xyz[idx]
        if len(idx) > points:
            sel = np.sort(rng.choice(len(idx), points, replace=False))
        else:
            sel = np.arange(len(idx))
        cx, cy = (ij[0] + 0.5) * t, (ij[1] + 0.5) * t
        z0 = float(np.percentile(xyz[:, 2], 2))
        rel = np.empty_like(xyz)
        rel[:, 0] = (xyz[:, 0] - cx) * cloud.units_h
        rel[:, 1] = (xyz[:, 1] - cy) * cloud.units_h
        rel[:, 2] = (xyz[:, 2] - z0) * cloud.units_v
        nearest = _nearest(rel, rel[sel]) if len(sel) < len(idx) else np.arange(len(idx))
        pts = np.concatenate([rel[sel], cloud.feats[idx][sel]], axis=1).astype(np.float32)
        meta = {
            "source": cloud.source, "crs": cloud.crs, "units_to_m": [cloud.units_h, cloud.units_h, cloud.units_v],
            "tile": f"{int(ij[0])}_{int(ij[1])}", "tile_index": int(k),
            "tile_bounds": [ij[0] * t, ij[1] * t, (ij[0] + 1) * t, (ij[1] + 1) * t],
            "origin": [cx, cy, z0], "index": idx[sel].astype(np.int64), "xyz": xyz[sel].astype(np.float64), "point_index": idx.astype(np.int64),
            "nearest": nearest.astype(np.int64), "n_points": int(len(idx)), "features": list(FEATURES),
        }
        if cloud.classification is not None:
            meta["classification"] = cloud.classification[idx][sel]
        return Sample(data={"points": pts}, mask=np.ones(len(sel), bool), meta=meta)

    def read_object(self, path, points=2048, seed=0) -> Sample:
        a = _read_object(os.fspath(path), points, seed)
        a = a[np.isfinite(a[:, :3]).all(1)]
        if len(a) == 0:
            raise InputError(f"{path}: the point set is empty")
        rng = np.random.default_rng(seed)
        all_idx = np.arange(len(a))
        sel = np.sort(rng.choice(len(a), points, replace=False)) if len(a) > points else all_idx
        c = a[:, :3].mean(0)
        r = float(np.linalg.norm(a[:, :3] - c, axis=1).max()) or 1.0
        xyz = (a[sel, :3] - c) / r
        pts = np.concatenate([xyz, np.zeros((len(sel), len(FEATURES)))], 1).astype(np.float32)
        nearest = _nearest((a[:, :3] - c) / r, xyz) if len(sel) < len(a) else all_idx
        meta = {"source": os.fspath(path), "crs": None, "units_to_m": None, "tile": None, "origin": c.tolist(),
                "normalised": "unit sphere", "radius": r, "index": sel, "point_index": all_idx, "nearest": nearest,
                "n_points": int(len(a)), "features": list(FEATURES)}
        return Sample(data={"points": pts}, mask=np.ones(len(sel), bool), meta=meta)

    def read(self, path, tile=None, points=None, seed=0, engine="auto", **_) -> list[Sample]:
        d = self.input_defaults
        path = os.fspath(path)
        if os.path.splitext(path)[1].lower() in OBJECT_TYPES:
            return [self.read_object(path, points or d["points"], seed)]
        return self.tiles(read_cloud(path, engine), tile or d["tile"], points or d["points"], seed)

    def read_labelled(self, path, task="point_classification", tile=None, points=None, seed=0,
                      per_class=None, **_) -> LabelledSet:
        d = self.input_defaults
        P = int(points or d["points"])
        path = os.fspath(path)
        if task == "classification" or os.path.isdir(path):
            return self._read_object_classes(path, P, seed, per_class)
        samples = self.read(path, tile=tile, points=P, seed=seed)
        if samples[0].meta.get("classification") is None:
            raise InputError(f"{path}: no classification field, so no ground labels")
        targets = np.full((len(samples), P), -1, np.int64)
        share = {}
        for b, s in enumerate(samples):
            g = (np.asarray(s.meta["classification"]) == GROUND_CLASS).astype(np.int64)
            targets[b, : len(g)] = g
            share[s.meta["tile"]] = float(g.mean())
        groups = np.array([s.meta["tile_index"] for s in samples], np.int64)
        return LabelledSet(
            samples=samples, targets=targets, classes=["non-ground", "ground"], groups=groups,
            info={"source": path, "task": "point_classification", "padding": -1,
                  "ground_share_per_tile": share, "tile_m": float(tile or d["tile"]), "points": P,
                  "caveat": "ground (class 2) labels may be partial (Autzen: ~1/3 of near-ground points, "
                            "12-90 % per tile); report per-tile figures"},
        )

    def _read_object_classes(self, root, P, seed, per_class):
        from .raster import class_folders, subsample_per_class

        classes, files, labels = class_folders(root, self.file_types)
        keep = subsample_per_class(labels, per_class, seed)
        samples, targets = [], []
        for i in keep:
            ext = os.path.splitext(files[i])[1].lower()
            if ext in LIDAR_TYPES:  # a whole lidar file as one sample: every point, downsampled
                cloud = read_cloud(files[i])
                big = float(np.ptp(cloud.xyz[:, :2], axis=0).max() * cloud.units_h) + 1.0
                s = self.tiles(cloud, tile=big * 2, points=P, seed=seed)[0]
            else:
                s = self.read_object(files[i], P, seed)
            samples.append(s)
            targets.append(labels[i])
        return LabelledSet(samples=samples, targets=np.asarray(targets, np.int64), classes=classes, groups=None,
                           info={"source": root, "task": "classification", "files": len(keep)})

    def from_payload(self, arrays, meta) -> list[Sample]:
        meta = dict(meta or {})
        if meta.get("path"):
            return self.read(meta["path"], tile=meta.get("tile"), points=meta.get("points"))
        if arrays and "points" in arrays:  # (K, 3+) in the file's units, for tests / other clients
            a = np.asarray(arrays["points"], np.float64)
            if a.ndim != 2 or a.shape[1] < 3:
                raise InputError(f"point payload 'points' must be (K, 3+); got shape {a.shape}")
            feats = np.zeros((len(a), len(FEATURES)), np.float32)
            feats[:, : min(len(FEATURES), a.shape[1] - 3)] = a[:, 3 : 3 + len(FEATURES)]
            wkt = meta.get("crs")
            h, v = _units(wkt)
            cloud = Cloud(a[:, :3], feats, None, wkt, h, v, meta.get("source", "payload"))
            return self.tiles(cloud, meta.get("tile") or self.input_defaults["tile"],
                              meta.get("points") or self.input_defaults["points"])
        raise InputError("point cloud payload needs meta 'path' (LAS / LAZ / COPC)")

    def expand(self, sample: Sample, element_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-element results (K, ...) -> (file point indexes (n,), values (n, ...)) for every point of the tile."""
        v = np.asarray(element_values)
        K = len(sample.data["points"])
        if len(v) < K:
            raise InputError(f"{len(v)} element values for a sample of {K} points")
        return sample.meta["point_index"], v[:K][sample.meta["nearest"]]

    # the contract
    def default_spec(self, samples=None, task=None) -> dict:
        """Dense (per-point elements too) for lidar tiles, or when `task` is point_classification;
        tokens only for object point sets (whole-sample classification)."""
        inp, enc = dict(self.input_defaults), dict(self.encoder_defaults)
        objects = bool(samples) and samples[0].meta.get("tile") is None
        if objects:  # unit-sphere objects
            inp["xyz_scale"] = 1.0
        enc["dense"] = (task in DENSE_TASKS) if task is not None else not objects
        return {"input": inp, "encoder": enc}

    def check(self, sample, spec) -> None:
        src = sample.meta.get("source", "input")
        pts = required_array(sample, "points", self.title)
        if pts.ndim != 2 or len(pts) == 0:
            raise InputError(f"{self.title}: tile {sample.meta.get('tile')} of {src} is empty (0 points)")
        want = 3 + len(self.input_spec(spec)["features"])
        if pts.shape[1] != want:
            raise InputError(f"{self.title}: the bundle expects {want} values per point (x, y, z + features), "
                             f"got {pts.shape[1]}")
        if not np.isfinite(pts).all():
            raise InputError(f"{self.title}: NaN / infinite values in the points of tile {sample.meta.get('tile')} of {src}")

    def normalise_stats(self, samples, spec=None) -> dict:
        need_samples(samples, self.name)
        inp = self.input_spec(spec)
        step = max(1, len(samples) // 500)
        f = np.concatenate([s.data["points"][:, 3:] for s in samples[::step]]).astype(np.float64)
        mean, std = fit_mean_std(f, floor=1e-6)
        return {"xyz_scale": float(inp["xyz_scale"]), "features": list(inp["features"]),
                "mean": [float(v) for v in mean], "std": [float(v) for v in std]}

    def to_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        """`points` (B, P, 3+d) float32, rows padded by repeating their points; `mask` (B, P) 1 = real point.
        A sample with more than P points keeps P of them, evenly spread through its (file-ordered) points."""
        need_samples(samples, self.name)
        inp = self.input_spec(spec)
        P = int(inp["points"])
        heights = [float(r) for r in inp.get("heights") or []]
        C = samples[0].data["points"].shape[1] + len(heights)
        x = np.zeros((len(samples), P, C), np.float32)
        m = np.zeros((len(samples), P), np.float32)
        mean = np.asarray(stats["mean"], np.float32)
        std = np.asarray(stats["std"], np.float32)
        for b, s in enumerate(samples):
            p = s.data["points"]
            if len(p) > P:
                p = p[np.linspace(0, len(p) - 1, P).round().astype(np.int64)]
            p = p.astype(np.float32)
            if len(p) == 0:
                raise InputError(f"{self.title}: empty sample (tile {s.meta.get('tile')})")
            extra = heights_above_local_min(p[:, :2], p[:, 2], heights) / stats["xyz_scale"] if heights else None
            p = np.concatenate([p[:, :3] / stats["xyz_scale"], (p[:, 3:] - mean) / std]
                               + ([extra.astype(np.float32)] if extra is not None else []), 1)
            n = len(p)
            x[b] = p[np.arange(P) % n]
            m[b, :n] = 1.0
        return {"points": np.nan_to_num(x), "mask": m}

    def augment(self, inputs: dict, targets, generator):
        """Training-time augmentation (torch), drawn per sample: a turn about the vertical by any angle,
        a mirror, and a scale of 0.9-1.1 of the horizontal positions. Heights, the per-point features and
        every point's label stay as they are (ground stays ground, whichever way north is)."""
        import torch

        x = inputs["points"].clone()
        b = x.shape[0]
        angle = 2 * math.pi * torch.rand((b,), generator=generator)
        mirror = torch.where(torch.rand((b,), generator=generator) < 0.5, -1.0, 1.0)
        scale = 0.9 + 0.2 * torch.rand((b,), generator=generator)
        c, s = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
        px, py = x[..., 0] * mirror[:, None], x[..., 1]
        x[..., 0] = (c * px - s * py) * scale[:, None]
        x[..., 1] = (s * px + c * py) * scale[:, None]
        out = dict(inputs)
        out["points"] = x
        return out, targets

    def build_encoder(self, spec: dict):
        inp, enc = self.input_spec(spec), self.encoder_spec(spec)
        dense = enc.get("dense")
        if dense is None:
            dense = (spec or {}).get("task", "point_classification") in DENSE_TASKS
        from .pointcloud_encoder import PointEncoder

        return PointEncoder(
            in_dim=3 + len(inp["features"]) + len(inp.get("heights") or []), groups=int(enc["groups"]), group_size=int(enc["group_size"]),
            dim=int(enc["dim"]), depth=int(enc["depth"]), heads=int(enc["heads"]),
            mlp_ratio=float(enc["mlp_ratio"]), dropout=float(enc["dropout"]), dense=bool(dense),
            group_widths=tuple(enc["group_widths"]), element_dim=int(enc["element_dim"]),
        )


def heights_above_local_min(xy: np.ndarray, z: np.ndarray, radii, chunk: int = 256) -> np.ndarray:
    """(n, len(radii)): each point's height above the lowest point within r (horizontally) of it, for
    each radius r (same units as xy, z). Ground lies at or near 0 at every radius; roofs and canopy
    stand above it at the radii wider than themselves.

    Lowest first: with the points in ascending z, a point's lowest neighbour is the first of them within
    r, found `chunk` points at a time (each point stops at its first hit; it is its own neighbour at
    worst). Exact, and ~25x faster on a full 2,048-point tile than a neighbour-pair search (7 ms
    against 180 ms): the point-cloud bundles' inputs cost less than their LLM pass."""
    xy, z = np.asarray(xy, np.float64), np.asarray(z, np.float64)
    n = len(z)
    out = np.zeros((n, len(radii)), np.float64)
    if n == 0:
        return out
    order = np.argsort(z, kind="stable")
    sx, sy, sz = xy[order, 0], xy[order, 1], z[order]
    x, y = xy[:, 0], xy[:, 1]
    for k, r in enumerate(radii):
        r2 = float(r) * float(r)
        lowest = np.empty(n, np.float64)
        todo = np.arange(n)
        for start in range(0, n, chunk):
            if not len(todo):
                break
            dx = x[todo, None] - sx[None, start:start + chunk]
            dy = y[todo, None] - sy[None, start:start + chunk]
            near = dx * dx + dy * dy <= r2
            hit = near.any(1)
            lowest[todo[hit]] = sz[start:start + chunk][near[hit].argmax(1)]
            todo = todo[~hit]
        out[:, k] = z - lowest
    return out
