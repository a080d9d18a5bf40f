"""`allspark bench`: speed and memory of the pipeline on the default LLM, CPU (or CUDA when present).

Figures, in one run:
- raw llama.cpp prompt throughput (tokens/s) at the token count one sample uses;
- end-to-end head-mode throughput (samples/s) per modality, batched (the prompt prefix's KV cache
  computed once, samples as parallel sequences) and one by one, through llama.cpp and through torch;
- the pipeline's own cost (encoder, bridge, head) as a share of the LLM's time;
- parity of the two runtimes (hidden-state cosine, class-probability difference);
- peak memory; and the ZeroMQ service's figures (ping, 100 MB transfer, ask overhead).
Speed is measured on freshly initialised bundles: throughput does not depend on the weights' values.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import InputError
from .llm.base import Segment

BENCH_MODALITIES = ("rgb", "msi", "hsi", "sar", "table", "trajectory", "pointcloud")  # synthetic_payloads' keys
TARGETS = {"pipeline_share_max": 0.10, "llamacpp_over_torch_min": 3.0, "batched_over_single_min": 1.5,
           "service_payload_vs_pair_min": 0.80, "service_ask_overhead_ms_max": 5.0}


def synthetic_payloads(tmp: Path) -> dict[str, tuple[dict, dict]]:
    """One small payload per modality, in the wire formats of docs/DESIGN.md."""
    rng = np.random.default_rng(0)
    payloads = {
        "rgb": ({"image": rng.uniform(0, 255, (3, 128, 128)).astype(np.float32)}, {}),
        "msi": ({"image": rng.uniform(0, 3000, (13, 64, 64)).astype(np.float32)}, {}),
        "hsi": ({"image": rng.uniform(0, 8000, (200, 4, 4)).astype(np.float32)}, {}),
        "sar": ({"image": rng.gamma(1.0, 50.0, (1, 128, 128)).astype(np.float32)}, {}),
        "table": ({"col:TEMP": rng.normal(15, 8, 16), "col:PRES": rng.normal(1010, 8, 16),
                   "col:NO2": rng.gamma(2, 20, 16)}, {"categorical": {"station": ["A", "B"] * 8}}),
    }
    tracks = np.repeat(np.arange(16), 8)
    t = np.tile(np.arange(8) * 0.4, 16)
    xy = np.cumsum(rng.normal(0, 0.4, (128, 2)), 0)
    payloads["trajectory"] = ({"xy": xy, "t": t, "track": tracks.astype(np.int64)}, {})
    try:
        import laspy

        las = laspy.create(point_format=3, file_version="1.2")
        n = 20000
        las.x, las.y = rng.uniform(0, 40, n), rng.uniform(0, 40, n)
        las.z = rng.normal(0, 1, n)
        path = tmp / "bench.las"
        las.write(str(path))
        payloads["pointcloud"] = ({}, {"path": str(path)})
    except ImportError:  # pragma: no cover
        pass
    return payloads


def fresh_bundle(modality_name: str, samples, runtime, llm_path: Path, out: Path, task: str | None = None,
                 read_options: dict | None = None, bridge: dict | None = None, head: dict | None = None):
    """An untrained bundle of the modality's default configuration, or of `task` with the given reader
    options, bridge and head (for speed, not answers)."""
    import torch

    from .bundle import save_bundle
    from .llm.default import gguf_info
    from .model import AllSparkModel
    from .modalities import get
    from .train import make_manifest

    modality = get(modality_name)
    task = task or modality.tasks[0]
    spec = modality.default_spec(samples)
    stats = modality.normalise_stats(samples, spec)
    tnorm = {"mean": [0.0], "std": [1.0]} if task == "regression" else {"scale": 1.0} if task == "trajectory" else {}
    manifest = make_manifest(modality, task, spec, stats, tnorm, runtime, gguf_info(llm_path),
                             classes=["a", "b", "c", "d"], targets=[{"name": "y", "unit": ""}],
                             name=f"bench-{modality_name}" + ("" if task == modality.tasks[0] else f"-{task}"),
                             bridge=bridge, head=head, read_options=read_options)
    torch.manual_seed(0)
    model = AllSparkModel(manifest)
    return save_bundle(out / manifest["name"], manifest, model.state_dict())


def _time(fn, repeat: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def cosine(a, b) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def parity(llama_rt, torch_rt, n_embeds: int = 32, seed: int = 0) -> dict:
    """The same context (prompt, injected tokens at the LLM's embedding scale, suffix) through both runtimes."""
    import torch

    from . import prompts

    rng = np.random.default_rng(seed)
    prefix, suffix = prompts.head_ids(llama_rt, "Given the spectral information, which class is this pixel?")
    with torch.no_grad():
        ids = torch.as_tensor(rng.integers(10, min(20000, torch_rt.n_vocab), n_embeds))[None]
        embeds = torch_rt.embed_ids(ids)[0].float().numpy()
    embeds = embeds + rng.normal(0, embeds.std() * 0.3, embeds.shape).astype(np.float32)
    segs = [Segment(ids=prefix), Segment(embeds=embeds), Segment(ids=suffix)]
    h_l, h_t = llama_rt.hidden_states(segs), torch_rt.hidden_states(segs)
    cos = cosine(h_l[len(prefix):], h_t[len(prefix):])
    w = rng.normal(0, 1 / np.sqrt(h_l.shape[1]), (h_l.shape[1], 5))
    feats = np.stack([h_l[-1], h_t[-1]])
    feats = (feats - feats.mean(-1, keepdims=True)) / feats.std(-1, keepdims=True)
    logits = feats @ w
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
            "max_prob_diff": float(np.abs(probs[0] - probs[1]).max()), "positions": int(len(cos))}


def run_bench(llm: str | None = None, quick: bool = False, bundles=None, include_service: bool = True,
              modalities=None, device: str = "auto") -> dict:
    from .bundle import resolve_bundle
    from .engine import Engine
    from .llm.default import gguf_info, resolve_llm_path
    from .modalities import get

    llm_path = resolve_llm_path(llm)
    repeat = 2 if quick else 5
    report: dict = {"llm": gguf_info(llm_path), "targets": TARGETS, "modalities": {}}
    tmp = Path(tempfile.mkdtemp(prefix="allspark-bench-"))
    engine = Engine(llm_path=str(llm_path), device=device, runtime="llamacpp", batch_size=16)
    torch_engine = Engine(llm_path=str(llm_path), device=device, runtime="torch", precision="fp32", batch_size=16)
    single = Engine(llm_path=str(llm_path), device=device, runtime="llamacpp", batch_size=1)
    single._runtime = engine.runtime  # the same loaded LLM, fed one sample at a time
    torch_rt = torch_engine.runtime
    report["device"] = engine.device

    # raw llama.cpp prompt throughput at one sample's token count
    n_tokens = 48
    ids = engine.runtime.tokenize("word " * (n_tokens * 2), add_bos=True)[:n_tokens]
    secs = _time(lambda: engine.runtime.hidden_states([Segment(ids=ids)]), repeat)
    report["llamacpp_prompt_tokens_per_s"] = round(n_tokens / secs, 1)
    report["llamacpp_prompt_tokens"] = n_tokens

    payloads = synthetic_payloads(tmp)
    names = modalities or list(payloads)
    runs = 1 if quick else 3

    def measure(bundle_path: str, samples) -> dict:
        entry: dict = {"samples": len(samples)}
        for label, eng in (("llamacpp_batched", engine), ("llamacpp_single", single), ("torch", torch_engine)):
            name = eng.load_bundle(bundle_path)["name"]
            eng.predict(name, samples[:2])  # warm-up
            secs, stages = [], {"encode_s": 0.0, "llm_s": 0.0, "head_s": 0.0}
            for _ in range(runs if label == "llamacpp_batched" else 1):
                timing: dict = {}
                t0 = time.perf_counter()
                eng.predict(name, samples, timing=timing)
                secs.append(time.perf_counter() - t0)
                for k in stages:
                    stages[k] += timing[k]
            entry[f"{label}_samples_per_s"] = round(len(samples) / float(np.median(secs)), 2)
            if label == "llamacpp_batched":
                loaded = eng.loaded[name]
                entry["tokens_per_sample"] = len(loaded.suffix_ids) + loaded.model.n_bridge
                # summed over the runs: one noisy run does not decide the share
                entry["pipeline_share_of_llm"] = round((stages["encode_s"] + stages["head_s"]) / stages["llm_s"], 4)
                entry["stage_s"] = {k: round(v / len(secs), 4) for k, v in stages.items()}
                entry["encoder_precision"] = loaded.precision
            eng.loaded.pop(name, None)
        entry["llamacpp_over_torch"] = round(entry["llamacpp_batched_samples_per_s"] / entry["torch_samples_per_s"], 2)
        entry["batched_over_single"] = round(entry["llamacpp_batched_samples_per_s"] / entry["llamacpp_single_samples_per_s"], 2)
        return entry

    def samples_of(modality_name: str):
        arrays, meta = payloads[modality_name]
        modality = get(modality_name)
        samples = modality.read(meta["path"]) if "path" in meta else modality.from_payload(arrays, meta)
        return (samples * (16 // max(1, len(samples)) + 1))[:16]

    made = {}
    for name in names:
        samples = samples_of(name)
        made[name] = fresh_bundle(name, samples, torch_rt, llm_path, tmp)
        report["modalities"][name] = measure(str(made[name].path), samples)
    for path in bundles or []:  # users' bundles, on the synthetic sample of their modality
        b = resolve_bundle(path)
        modality_name = b.manifest["modality"]
        if modality_name not in payloads:
            raise InputError(f"the bench has no sample of modality {modality_name!r} for bundle {path}")
        report.setdefault("bundles", {})[b.name] = {"modality": modality_name,
                                                    **measure(str(b.path), samples_of(modality_name))}

    report["parity"] = parity(engine.runtime, torch_rt)
    if include_service:
        try:
            from .service.bench import bench_service

            ask_on = next((n for n in names if "path" not in payloads[n][1]), None)
            if ask_on is None:
                report["service"] = bench_service(quick=quick)
            else:
                engine.load_bundle(str(made[ask_on].path))
                report["service"] = bench_service(engine, str(made[ask_on].path), payloads[ask_on], quick=quick)
                report["service"]["ask_modality"] = ask_on
        except ImportError as exc:  # pragma: no cover
            report["service"] = {"error": f"service benchmark unavailable: {exc}"}
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    m = report["modalities"].values()
    report["checks"] = {
        "pipeline_share_max": max(e["pipeline_share_of_llm"] for e in m) if m else None,
        "llamacpp_over_torch_min": min(e["llamacpp_over_torch"] for e in m) if m else None,
        "batched_over_single_min": min(e["batched_over_single"] for e in m) if m else None,
        "parity_min_cosine": report["parity"]["min_cosine"],
    }
    engine.close()
    torch_engine.close()
    return report


def print_report(r: dict) -> None:
    print(f"LLM {r['llm']['file']} (width {r['llm']['n_embd']}) on {r['device']}")
    print(f"llama.cpp prompt throughput: {r['llamacpp_prompt_tokens_per_s']} tokens/s at {r['llamacpp_prompt_tokens']} tokens")
    print(f"{'modality':<11} {'batched/s':>10} {'single/s':>9} {'torch/s':>8} {'llama/torch':>11} {'batch gain':>10} {'pipeline share':>14}")
    for name, e in [*r["modalities"].items(), *r.get("bundles", {}).items()]:
        print(f"{name:<11} {e['llamacpp_batched_samples_per_s']:>10} {e['llamacpp_single_samples_per_s']:>9} "
              f"{e['torch_samples_per_s']:>8} {e['llamacpp_over_torch']:>11} {e['batched_over_single']:>10} "
              f"{e['pipeline_share_of_llm']:>14.1%}")
    p = r["parity"]
    print(f"parity: min cosine {p['min_cosine']:.4f}, max probability difference {p['max_prob_diff']:.4f}")
    if "service" in r:
        from .service.bench import format_service_report

        for line in format_service_report(r["service"]):
            print(line)
    print(f"peak memory: {r['peak_rss_mb']} MB")
    print(f"targets: {r['targets']}")


# ---- Ray: single process vs a local Ray of 1 and 2 workers (allspark bench --ray) -----------------
def bench_raster(path: Path, manifest: dict, size: int, seed: int = 0) -> str:
    """A georeferenced float32 raster of `size` x `size` px with the bundle's band count (noise around a
    smooth field: speed, not answers)."""
    import rasterio
    from rasterio.transform import from_origin

    bands = int((manifest.get("input") or {}).get("bands") or 3)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / max(1, size)
    base = (np.sin(6 * xx) + np.cos(4 * yy))[None] * 500 + 2000
    img = (base + rng.normal(0, 50, (bands, size, size))).astype(np.float32)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": bands, "dtype": "float32",
               "crs": "EPSG:32633", "transform": from_origin(500000, 4000000, 10, 10), "tiled": True,
               "blockxsize": 256 if size >= 256 else 16, "blockysize": 256 if size >= 256 else 16}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(img)
    return str(path)


def ray_bench(bundle: str = "hsi-indian-pines", llm: str | None = None, size: int = 256, window: int = 64,
              workers=(1, 2), bundles_dir=None, progress=None) -> dict:
    """The same generated raster three ways: the engine in this process (one thread, as one Ray worker
    has), then allspark.cluster.run_batch on a local Ray of 1 and of 2 workers. Per configuration:
    pixels/s over the whole run and over the window phase (Ray started, engines loaded), seconds per
    window, and Ray's overhead per window (window phase x workers / windows - the engine's own seconds
    per window in this process); every mosaic is checked against the single-process one."""
    from .bundle import resolve_bundle

    say = progress or (lambda message: None)
    dirs = [Path(bundles_dir)] if bundles_dir else None
    b = resolve_bundle(bundle, dirs)
    tmp = Path(tempfile.mkdtemp(prefix="allspark-ray-bench-"))
    try:
        return _ray_bench(b, tmp, llm, size, window, workers, say)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _ray_bench(b, tmp: Path, llm, size: int, window: int, workers, say) -> dict:
    import rasterio

    from .cluster import plan_batch, run_batch
    from .engine import Engine
    from .outputs import write_result

    raster = bench_raster(tmp / "bench.tif", b.manifest, int(size))
    plan = plan_batch(str(b.path), raster, str(tmp / "plan.tif"), llm=llm, window=window)
    n_windows, pixels = len(plan.tasks), int(size) * int(size)
    report: dict = {"bundle": b.name, "modality": b.manifest["modality"], "llm": Path(plan.llm_path).name,
                    "raster": [int(size), int(size), int((b.manifest.get("input") or {}).get("bands") or 3)],
                    "window": window, "windows": n_windows, "unit": plan.unit, "pixels": pixels, "runs": {}}
    say(f"single process: {pixels:,} px")
    try:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a requirement
        threads = None
    try:
        t0 = time.perf_counter()
        eng = Engine(llm_path=plan.llm_path, device="cpu", threads=1)
        name = eng.load_bundle(str(b.path))["name"]
        t1, c1 = time.perf_counter(), time.process_time()
        options = dict(plan.tasks[0].options)  # a scene bundle's tile
        samples = eng.read(name, raster, **options)
        res = eng.predict(name, samples)
        write_result(res, samples, str(tmp / "single.tif"))
        t2, c2 = time.perf_counter(), time.process_time()
        eng.close()
    finally:
        if threads:
            torch.set_num_threads(threads)
    with rasterio.open(tmp / "single.tif") as src:
        expected = src.read(1)
    run_s = t2 - t1
    report["runs"]["single"] = {"workers": 1, "total_s": t2 - t0, "startup_s": t1 - t0, "windows_s": run_s,
                                "pixels_per_s": pixels / run_s, "pixels_per_s_total": pixels / (t2 - t0),
                                "s_per_window": run_s / n_windows, "worker_s_per_window": run_s / n_windows,
                                "cpu_s_per_window": (c2 - c1) / n_windows, "samples": len(samples)}
    for w in workers:
        say(f"local Ray, {w} worker{'s' if w != 1 else ''}")
        out = tmp / f"ray{w}.tif"
        s = run_batch(str(b.path), raster, str(out), workers=int(w), window=window, llm=plan.llm_path, device="cpu")
        with rasterio.open(out) as src:
            same = bool(np.array_equal(src.read(1), expected))
        ws = s["windows_s"]
        report["runs"][f"ray{w}"] = {
            "workers": s["workers"], "total_s": s["seconds"], "startup_s": s["startup_s"], "windows_s": ws,
            "pixels_per_s": pixels / ws, "pixels_per_s_total": pixels / s["seconds"],
            "s_per_window": ws / n_windows, "worker_s_per_window": s["compute_s"] / n_windows,
            "cpu_s_per_window": s["compute_cpu_s"] / n_windows,
            # what Ray adds per window: the workers' time in the window phase not spent on a window
            # (dispatch, transfer, idle), and against this process's own seconds per window
            "dispatch_per_window_s": (ws * s["workers"] - s["compute_s"]) / n_windows,
            "overhead_per_window_s": ws * s["workers"] / n_windows - run_s / n_windows,
            "identical_to_single": same, "samples": s["samples"]}
    return report


def print_ray_report(r: dict) -> None:
    print(f"Ray bench: bundle {r['bundle']} ({r['modality']}) on {r['llm']}, raster {r['raster'][0]} x "
          f"{r['raster'][1]} px x {r['raster'][2]} bands, {r['windows']} windows of {r['window']} px")
    print(f"{'run':<7} {'workers':>7} {'total s':>8} {'start s':>8} {'windows s':>9} {'px/s':>8} {'px/s all':>8} "
          f"{'s/window':>8} {'worker s/w':>10} {'CPU s/w':>8} {'dispatch/w':>10} {'vs single/w':>11} same")
    for k, v in r["runs"].items():
        ms = lambda key: "" if v.get(key) is None else f"{v[key] * 1000:.0f} ms"  # noqa: E731
        print(f"{k:<7} {v['workers']:>7} {v['total_s']:>8.2f} {v['startup_s']:>8.2f} {v['windows_s']:>9.2f} "
              f"{v['pixels_per_s']:>8.0f} {v['pixels_per_s_total']:>8.0f} {v['s_per_window']:>8.3f} "
              f"{v['worker_s_per_window']:>10.3f} {v['cpu_s_per_window']:>8.3f} {ms('dispatch_per_window_s'):>10} "
              f"{ms('overhead_per_window_s'):>11} {v.get('identical_to_single', '')}")
