"""The `allspark` command: ask, train, eval, bundles, modalities, bench, batch, serve, ping."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .bench import BENCH_MODALITIES
from .errors import AllSparkError, InputError
from .jsonable import jsonable as _jsonable


def _json_arg(text: str | None, flag: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise AllSparkError(f"{flag} must be JSON, e.g. '{{\"tile\": 64}}': {exc}") from exc
    if not isinstance(value, dict):
        raise AllSparkError(f"{flag} must be a JSON object")
    return value


def _print_json(obj) -> None:
    json.dump(_jsonable(obj), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


# ---- ask ---------------------------------------------------------------------------------------
def cmd_ask(args) -> int:
    from .engine import Engine
    from .outputs import describe_samples, write_result

    engine = Engine(llm_path=args.llm, device=args.device, runtime=args.runtime, precision=args.precision,
                    bundles_dir=args.bundles)
    if len(args.bundle) != len(args.input):
        raise AllSparkError("give one --input per --bundle (they pair up in order)")
    if len(args.bundle) > 1:
        return _ask_together(engine, args)
    args.bundle, args.input = args.bundle[0], args.input[0]
    if args.output and args.output.lower().endswith((".las", ".laz")):  # before the run: a name that cannot be written
        from .pointcloud_output import check_output

        check_output(args.input, args.output)
    summary = engine.load_bundle(args.bundle)
    name = summary["name"]
    options = _json_arg(args.options, '--options')
    samples = engine.read(name, args.input, **options)
    if not samples:
        raise AllSparkError(f"{args.input}: no samples to run (empty input)")
    want_text = bool(args.prompt) or args.text
    result = engine.ask(name, samples, prompt=args.prompt, text=want_text, max_tokens=args.max_tokens)
    if args.output and args.output.lower().endswith((".las", ".laz")):
        result["output"] = _write_point_cloud(result, samples, args.input, args.output)
    elif args.output:
        written = write_result(result, samples, args.output)
        result["output"] = str(written)
    if args.json:
        _print_json({"bundle": summary["name"], "input": args.input, "samples": len(samples), **result})
        return 0
    _print_header(engine, summary, args.input, samples)
    for line in describe_samples(result, samples, limit=args.show):
        print(line)
    # the whole run, once; the LLM's answer beside it keeps only what these numbers support (engine.ask)
    print(f"result: {result['summary']}")
    note = result.get("summary_stats", {}).get("area", {}).get("note")
    if note:
        print(f"        ({note})")
    if "text" in result:
        dropped = result.get("text_dropped") or []
        shown = result["text"] or (
            "(it wrote nothing)" if not result.get("text_raw") else
            "(it only repeated the result above)" if all(d["why"] == "repeats the summary" for d in dropped) else
            "(nothing it wrote is supported by the result)")
        print(f"\nAnswer ({engine.llm_info()['file']}): {shown}")
        for d in dropped:
            if d["why"] != "repeats the summary":
                print(f"  left out: {d['text']!r}: {d['why']}")
    if args.output:
        print(f"\nwritten: {result['output']}")
    t = result.get("timing", {})
    if t:
        print(f"\ntime: encoder+bridge {t['encode_s'] * 1000:.0f} ms, LLM {t['llm_s'] * 1000:.0f} ms, "
              f"head {t['head_s'] * 1000:.0f} ms")
    return 0


def _write_point_cloud(result: dict, samples, src: str, dst: str) -> str:
    """--output X.las / X.laz / X.copc.laz for a point cloud: a classified copy of the input file (every
    point; the classified ones carry their class's ASPRS code, allspark.pointcloud_output)."""
    import numpy as np

    from .pointcloud_output import point_labels, write_classified

    if "element_labels" not in result or not samples or samples[0].meta.get("point_index") is None:
        raise InputError(f"--output {dst}: a classified LAS / LAZ copy needs a point cloud and a per-point "
                         f"(point_classification) bundle; write .json for this result")
    index, labels = point_labels(samples, result["element_labels"])
    kept = [(np.asarray(s.meta["index"], np.int64)[:8], np.asarray(s.meta["xyz"], np.float64)[:8])
            for s in samples if s.meta.get("xyz") is not None]
    check = (np.concatenate([k for k, _ in kept]), np.concatenate([x for _, x in kept])) if kept else None
    summary = write_classified(src, dst, index, labels, result.get("classes") or [], check_xyz=check)
    result["output_las_summary"] = summary
    return summary["path"]


def _ask_together(engine, args) -> int:
    """Several layers, one question: each input behind its own prompt in one LLM context."""
    options = _json_arg(args.options, '--options')
    items = []
    for bundle, path in zip(args.bundle, args.input):
        name = engine.load_bundle(bundle)["name"]
        items.append((name, engine.read(name, path, **options)))
    question = args.prompt or "Describe these inputs together."
    res = engine.ask_together(items, question, max_tokens=args.max_tokens)
    if args.json:
        _print_json({"inputs": list(args.input), "bundles": [n for n, _ in items], **res})
        return 0
    for (name, samples), path, r in zip(items, args.input, res["results"]):
        print(f"{path} [{name}, {len(samples)} samples]: {r['summary']}")
    print(f"\nAnswer ({engine.llm_info()['file']}): {res['text']}")
    return 0


def _print_header(engine, summary, path, samples) -> None:
    loaded = engine.loaded[summary["name"]]
    print(f"AllSpark | bundle {summary['name']} ({summary['modality']}, {summary['task']}) | "
          f"LLM {engine.llm_info()['file']} via {engine.runtime_kind} | {engine.device}, encoder {loaded.precision}")
    print(f"input: {path}: {len(samples)} sample{'s' if len(samples) != 1 else ''}")


# ---- train / eval ------------------------------------------------------------------------------
def cmd_train(args) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(
        modality=args.modality, data=args.data, out=args.out, task=args.task, name=args.name, llm=args.llm,
        labels=args.labels, epochs=args.epochs, lr=args.lr, warmup_epochs=args.warmup, batch_size=args.batch_size,
        seed=args.seed, val_fraction=args.val_fraction, select_fraction=args.select_fraction,
        max_samples=args.max_samples, llm_max_samples=args.llm_max_samples, pretrain_epochs=args.pretrain_epochs, pretrain_lr=args.pretrain_lr,
        pretrain_batch_size=args.pretrain_batch_size, encoder_lr=args.encoder_lr, class_balance=not args.no_class_balance,
        bridge=_json_arg(args.bridge, "--bridge"), encoder=_json_arg(args.encoder, "--encoder"),
        head=_json_arg(args.head, "--head"), read_options=_json_arg(args.options, "--options"),
        checkpoint_dir=args.checkpoint_dir, keep_checkpoints=args.keep_checkpoints,
        resume=args.resume, bf16=False if args.fp32 else None, device=args.device, threads=args.threads,
        cpu_precision=args.cpu_precision)
    bundle = train(cfg)
    if args.json:
        _print_json(bundle.summary())
    else:
        m = bundle.manifest["metrics"]["validation"]
        print(f"bundle {bundle.name} written to {bundle.path}")
        sel = bundle.manifest["metrics"].get("model_selection") or {}
        if sel:
            print("model selection: " + ", ".join(f"{k} {v:.4f}" for k, v in sel.items() if isinstance(v, float)))
        print("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float)))
    return 0


def cmd_eval(args) -> int:
    from .evaluate import evaluate

    if args.baseline and args.split != "validation":
        raise InputError("--baseline scores the alternatives on the bundle's validation split: add --split validation")
    precisions = ["fp32", "int8"] if args.precision == "both" else [args.precision]
    if args.precision == "both" and args.device == "cuda":
        precisions = ["fp32", "fp16"]
    report = evaluate(args.bundle, args.data, labels=args.labels, runtime=args.runtime, precisions=precisions,
                      llm=args.llm, device=args.device, split=args.split, max_samples=args.max_samples)
    if args.baseline:
        from .baselines import run_baselines
        from .bundle import resolve_bundle

        report["baselines"] = run_baselines(resolve_bundle(args.bundle).manifest, args.data, labels=args.labels,
                                            max_samples=args.max_samples)
    if args.json:
        for r in [*report["results"].values(), report.get("encoder_only") or {}]:
            r.pop("confusion", None) if not args.confusion else None
        _print_json(report)
        return 0
    print(f"bundle {report['bundle']} ({report['task']}) on {report['data']} [{report['split']}], "
          f"{report['samples']} samples, runtime {report['runtime']}")
    for precision, m in report["results"].items():
        figures = ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float) and k != "seconds")
        print(f"  {precision:>5}: {figures}  ({m['seconds']:.1f} s)")
    if "int8_cost" in report:
        print("  int8 cost (positive = worse than fp32): "
              + ", ".join(f"{k} {v:+.4f}" for k, v in report["int8_cost"].items()))
    if "encoder_only" in report:
        m = report["encoder_only"]
        print("  encoder's own head, no LLM: " + ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float)))
    for name, m in report.get("baselines", {}).items():
        figures = ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float) and k != "seconds")
        print(f"  baseline {name}: {figures}  ({m['split']})")
    if report["task"] == "forecast":
        _print_forecast_table(report)
    if report["task"] == "reid":
        _print_reid_table(report)
    if report["task"] == "depth":  # oblique photography: MAE and the percentages of accurate grids
        rows = [(f"bundle ({p})", m) for p, m in report["results"].items()]
        rows += [("encoder's own head", report["encoder_only"])] if "encoder_only" in report else []
        rows += [(f"baseline {n}", m) for n, m in report.get("baselines", {}).items()]
        print("\n  " + f"{'':<34}{'MAE':>10}{'RMSE':>10}{'PAG6 %':>10}{'PAG10 %':>10}")
        for label, m in rows:
            print("  " + f"{label:<34}" + "".join(f"{m.get(k, float('nan')):>10.3f}" for k in ("mae", "rmse", "pag6", "pag10")))
    return 0


def _print_reid_table(report: dict) -> None:
    """Re-identification figures as the literature prints them (SYSU-MM01 all-search): Rank-1/10/20, mAP, mINP."""
    rows = [(f"bundle ({p})", m) for p, m in report["results"].items()]
    if "encoder_only" in report:
        rows.append(("encoder's own head", report["encoder_only"]))
    rows += [(f"baseline {n}", m) for n, m in report.get("baselines", {}).items()]
    keys = [("Rank-1", "rank1"), ("Rank-10", "rank10"), ("Rank-20", "rank20"), ("mAP", "map"), ("mINP", "minp")]
    print("\n  " + f"{'':<44}" + "".join(f"{k:>9}" for k, _ in keys))
    for label, m in rows:
        print("  " + f"{label:<44}" + "".join(f"{100 * m.get(k, float('nan')):>8.2f}%" for _, k in keys))


def cmd_rank(args) -> int:
    """The gallery images nearest to a query image (infrared re-identification bundles)."""
    from .engine import Engine
    from .modalities.infrared import rank_gallery

    engine = Engine(llm_path=args.llm, device=args.device, runtime=args.runtime, bundles_dir=args.bundles)
    try:
        name = engine.load_bundle(args.bundle)["name"]
        out = rank_gallery(engine, name, args.query, args.gallery, top_k=args.top, query_spectrum=args.query_spectrum,
                           gallery_spectrum=args.gallery_spectrum)
    finally:
        engine.close()
    if args.json:
        _print_json(out)
        return 0
    for q in out["queries"]:
        print(f"query {q['file']} ({q['spectrum']}): the {out['top_k']} nearest of {out['gallery_size']} gallery images")
        for r in q["matches"]:
            print(f"  {r['rank']:>3}. {r['distance']:.4f}  {r['file']} ({r['spectrum']})")
    return 0


def _print_forecast_table(report: dict) -> None:
    """Forecast figures as the literature prints them: MAE / RMSE / MAPE at horizons 3, 6, 12 and overall."""
    rows = [(f"bundle ({p})", m) for p, m in report["results"].items()]
    if "encoder_only" in report:
        rows.append(("encoder's own head", report["encoder_only"]))
    rows += [(f"baseline {n}", m) for n, m in report.get("baselines", {}).items()]
    cols = [(f"h{h}", f"_h{h}") for h in (3, 6, 12)] + [("all", "")]
    print("\n  " + f"{'':<34}" + "".join(f"{c:>24}" for c, _ in cols))
    print("  " + f"{'':<34}" + "".join(f"{'MAE / RMSE / MAPE%':>24}" for _ in cols))
    for label, m in rows:
        cells = [f"{m.get('mae' + k, float('nan')):.2f} / {m.get('rmse' + k, float('nan')):.2f} / "
                 f"{m.get('mape' + k, float('nan')):.1f}" for _, k in cols]
        print("  " + f"{label:<34}" + "".join(f"{c:>24}" for c in cells))



# ---- listings ----------------------------------------------------------------------------------
def cmd_bundles(args) -> int:
    from .bundle import find_bundles

    bundles = [b.summary() for b in find_bundles([Path(args.bundles)] if args.bundles else None)]
    if args.json:
        _print_json(bundles)
        return 0
    if not bundles:
        print("no bundles found (looked in $ALLSPARK_BUNDLES, ~/.local/share/allspark/bundles, the repository's bundles/)")
    for b in bundles:
        what = f"{len(b['classes'])} classes" if b.get("classes") else ", ".join(t["name"] for t in b.get("targets") or []) or ""
        val = (b.get("metrics") or {}).get("validation", {})
        from .metrics import MAIN_METRIC

        main = MAIN_METRIC.get(b["task"])  # the task's own figure first (mIoU for per-point ground)
        keys = [k for k in ([main] if main in val else []) + [k for k in val if k != main] if isinstance(val[k], float)]
        shown = ", ".join(f"{k} {val[k]:.3f}" for k in keys[:3])
        print(f"{b['name']:<28} {b['modality']:<11} {b['task']:<22} {what:<16} {shown}  {b['path']}")
    return 0


def cmd_modalities(args) -> int:
    from .modalities import all_modalities

    mods = [m.describe() for m in all_modalities()]
    if args.json:
        _print_json(mods)
        return 0
    for m in mods:
        print(f"{m['name']:<11} {m['layer_kind']:<10} tasks: {', '.join(m['tasks']):<40} files: {' '.join(m['file_types'])}")
        print(f"{'':<11} prompt: {m['prompts'][0] if m['prompts'] else ''}")
    return 0


def cmd_bench(args) -> int:
    if getattr(args, "ray", False):  # allspark batch: single process vs a local Ray of 1 and 2 workers
        from .bench import print_ray_report, ray_bench

        report = ray_bench(bundle=(args.bundle or ["hsi-indian-pines"])[0], llm=args.llm, size=args.ray_size,
                           window=args.ray_window, progress=None if args.json else print)
        _print_json(report) if args.json else print_ray_report(report)
        return 0
    if args.dense:
        from .bench_dense import run_dense_bench

        say = (lambda *a: None) if args.json else (lambda m: print(m, file=sys.stderr))
        report = run_dense_bench(args.dense, sizes=tuple(args.sizes or (64, 256, 1024)), llm=args.llm,
                                 data=args.data, log=say, device=args.device)
        if args.json:
            _print_json(report)
        else:
            for r in report["sizes"]:
                print(f"{r['raster']:<13} {r['pixels']:>9} px {r['seconds']:>8.1f} s {r['pixels_per_s']:>9.0f} px/s  "
                      f"LLM {r['llm_s']:>7.1f} s  pipeline {100 * r['pipeline_share_of_llm']:.1f}% of the LLM  "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB")
        return 0
    from .bench import run_bench

    report = run_bench(llm=args.llm, quick=args.quick, bundles=args.bundle, include_service=not args.no_service,
                       modalities=args.modality, device=args.device)
    if args.json:
        _print_json(report)
    else:
        from .bench import print_report

        print_report(report)
    return 0


# ---- batch on a Ray cluster -----------------------------------------------------------------------
def cmd_batch(args) -> int:
    from .cluster import run_batch

    inputs = [p for group in args.input for p in group]

    def progress(fraction: float, message: str) -> None:
        if not args.json and sys.stderr.isatty():
            sys.stderr.write(f"\r{fraction:4.0%} {message[:70]:<70}")
            sys.stderr.flush()

    summary = run_batch(args.bundle, inputs if len(inputs) > 1 else inputs[0], args.output, address=args.address,
                        workers=args.workers, window=args.window, progress=progress, llm=args.llm,
                        bundles_dir=args.bundles, device=args.device, area=args.area)
    if not args.json and sys.stderr.isatty():
        sys.stderr.write("\n")
    if args.json:
        _print_json(summary)
        return 0
    where = "a local Ray" if summary["address"] == "local" else f"the Ray cluster at {summary['address']}"
    print(f"bundle {summary['bundle']} on {where}: {summary['workers']} workers ({summary['device']}), "
          f"{summary['tasks']} {'files' if summary['mode'] == 'files' else 'windows'}, {summary['samples']:,} samples "
          f"in {summary['seconds']:.1f} s")
    if summary.get("resubmitted") or summary.get("replaced_workers"):
        print(f"workers replaced: {summary['replaced_workers']}, windows run again: {summary['resubmitted']}")
    for c, n in (summary.get("counts") or {}).items():
        if n:
            print(f"  {c}: {n:,} {'pixels' if summary['mode'] == 'mosaic' else 'samples'}")
    for out in summary.get("outputs") or [summary["output"]]:
        print(f"written: {out}")
    return 0


# ---- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="allspark", description="AllSpark multimodal GIS model: backend engine and service")
    p.add_argument("--version", action="version", version=f"allspark {__import__('allspark').__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, runtime=True):
        sp.add_argument("--llm", help="GGUF LLM file (default: the embedded Gemma 3 270M)")
        sp.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        if runtime:
            sp.add_argument("--runtime", default="llamacpp", choices=["llamacpp", "torch"])
        sp.add_argument("--json", action="store_true", help="machine-readable output")

    a = sub.add_parser("ask", help="run a bundle on a file (head result, and the LLM's answer to --prompt)")
    common(a)
    a.add_argument("--bundle", required=True, action="append",
                   help="bundle name or folder (repeat with --input to ask about several layers at once)")
    a.add_argument("--input", required=True, action="append", help="input file (GeoTIFF, CSV, GPX, LAS/LAZ/COPC, ...)")
    a.add_argument("--prompt", help="a question for the LLM about the input (adds a text answer)")
    a.add_argument("--text", action="store_true", help="add the LLM's text answer with the bundle's own prompt")
    a.add_argument("--output", help="write the result (GeoTIFF label raster for per-pixel results; for a point cloud "
                                    "X.las / X.laz / X.copc.laz: a classified copy of the input; else JSON)")
    a.add_argument("--options", help="reader options as JSON, e.g. '{\"tile\": 64}'")
    a.add_argument("--precision", default="auto", choices=["auto", "fp32", "int8", "fp16"])
    a.add_argument("--bundles", help="an extra folder of bundles")
    a.add_argument("--max-tokens", type=int, default=96)
    a.add_argument("--show", type=int, default=8, help="how many samples to list")
    a.set_defaults(func=cmd_ask)

    t = sub.add_parser("train", help="train encoder + bridge + head against the frozen LLM; writes a bundle")
    common(t, runtime=False)
    t.add_argument("--modality", required=True)
    t.add_argument("--data", required=True, help="training data (see README: formats per modality)")
    t.add_argument("--labels", help="label raster for raster data (0 = unlabelled)")
    t.add_argument("--out", required=True, help="bundle folder to write")
    t.add_argument("--task")
    t.add_argument("--name")
    t.add_argument("--epochs", type=int, default=10, help="stage 2: epochs through the LLM")
    t.add_argument("--lr", type=float, default=3e-4, help="stage 2's learning rate (bridge + head)")
    t.add_argument("--pretrain-epochs", type=int, default=60,
                   help="stage 1: epochs of the encoder with a temporary head, no LLM (0: skip)")
    t.add_argument("--pretrain-lr", type=float, default=1e-3)
    t.add_argument("--pretrain-batch-size", type=int, default=64)
    t.add_argument("--encoder-lr", type=float, default=0.0,
                   help="stage 2's encoder learning rate (0: frozen after stage 1, its outputs cached)")
    t.add_argument("--no-class-balance", action="store_true", help="plain loss (default: classes weighted by 1/sqrt(frequency))")
    t.add_argument("--select-fraction", type=float, default=0.15,
                   help="model-selection split (picks epochs); --val-fraction is the reported split")
    t.add_argument("--llm-max-samples", type=int,
                   help="stage 2 trains on at most this many training samples (stage 1 uses them all)")
    t.add_argument("--head", help="head config as JSON")
    t.add_argument("--keep-checkpoints", action="store_true",
                   help="keep the checkpoints (in ~/.cache/allspark/checkpoints/NAME) after the bundle is written")
    t.add_argument("--warmup", type=float, default=1.0, help="warm-up epochs")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--val-fraction", type=float, default=0.15, help="validation split: reported, chooses nothing")
    t.add_argument("--max-samples", type=int)
    t.add_argument("--bridge", help='bridge config as JSON, e.g. \'{"queries": 16, "layers": 2}\'')
    t.add_argument("--encoder", help="encoder config as JSON")
    t.add_argument("--cpu-precision", default="int8", choices=["int8", "fp32"],
                   help="the encoder's precision on the CPU under --precision auto (fp32 where int8 costs "
                        "accuracy: measure with `allspark eval --precision both`)")
    t.add_argument("--options", help="reader options as JSON")
    t.add_argument("--checkpoint-dir")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--fp32", action="store_true", help="no bf16 autocast (default: bf16 only where the CPU has native bf16)")
    t.add_argument("--threads", type=int)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="a bundle's standard metrics on labelled data")
    common(e)
    e.add_argument("--bundle", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--labels", help="label raster (0 = unlabelled)")
    e.add_argument("--split", default="all", choices=["all", "validation", "unused"],
                   help="validation: only the part of --data the bundle's training held out; unused: the samples "
                        "a training run with --max-samples never read")
    e.add_argument("--precision", default="auto", choices=["auto", "fp32", "int8", "fp16", "both"])
    e.add_argument("--max-samples", type=int)
    e.add_argument("--confusion", action="store_true", help="include the confusion matrix in --json")
    e.add_argument("--baseline", action="store_true",
                   help="also fit the alternatives an analyst would use (SVM, CNN, gradient-boosted trees, ...) on "
                        "the bundle's training split of --data and score them on its validation split")
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("rank", help="re-identification: rank a gallery of person images for a query image")
    common(r)
    r.add_argument("--bundle", required=True, help="an infrared (reid) bundle")
    r.add_argument("--query", required=True, help="the query image (or a folder of them)")
    r.add_argument("--gallery", required=True, help="a folder of person images (or a SYSU-MM01 layout)")
    r.add_argument("--top", type=int, default=10, help="how many gallery images to list per query")
    r.add_argument("--query-spectrum", default="infrared", choices=["infrared", "visible", "auto"])
    r.add_argument("--gallery-spectrum", choices=["infrared", "visible", "auto"],
                   help="the gallery's light (default: guessed per image, grey = infrared)")
    r.add_argument("--bundles", help="an extra folder of bundles")
    r.set_defaults(func=cmd_rank)

    b = sub.add_parser("bundles", help="list the bundles found")
    b.add_argument("--bundles", help="an extra folder of bundles")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bundles)

    m = sub.add_parser("modalities", help="list the modalities, their tasks, prompts and file types")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_modalities)

    be = sub.add_parser("bench", help="speed and memory benchmark on the default LLM")
    be.add_argument("--llm")
    be.add_argument("--bundle", action="append", help="also measure this bundle, on its modality's bench sample (repeatable)")
    be.add_argument("--modality", action="append", choices=BENCH_MODALITIES,
                    help="measure only these modalities (repeatable; default: all)")
    be.add_argument("--quick", action="store_true", help="fewer repetitions")
    be.add_argument("--no-service", action="store_true", help="skip the ZeroMQ service figures")
    be.add_argument("--dense", metavar="BUNDLE", help="instead: a dense per-pixel bundle over whole rasters through "
                                                     "the service (cost curve, memory, pipeline share)")
    be.add_argument("--sizes", type=int, nargs="+", help="with --dense: raster sides in px (default 64 256 1024)")
    be.add_argument("--data", help="with --dense: the shared data folder (Indian Pines cube)")
    be.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                    help="auto: CUDA when present, else CPU; cuda: an error when no GPU is there (not with --ray)")
    be.add_argument("--ray", action="store_true", help="instead: allspark batch in this process vs a local Ray of 1 "
                                                      "and 2 workers (--bundle, default hsi-indian-pines)")
    be.add_argument("--ray-size", type=int, default=256, help="with --ray: the generated raster's side in px")
    be.add_argument("--ray-window", type=int, default=64, help="with --ray: the window (block) side in px")
    be.add_argument("--json", action="store_true")
    be.set_defaults(func=cmd_bench)

    ba = sub.add_parser("batch", help="run a bundle over a large raster, a folder of rasters or point clouds on Ray "
                                       "(a local Ray, or a cluster with --address)")
    ba.add_argument("--bundle", required=True, help="bundle name or folder")
    ba.add_argument("--input", required=True, action="append", nargs="+",
                    help="a raster (cut into windows: one label GeoTIFF), a folder or several files (one output each)")
    ba.add_argument("--output", required=True,
                    help="the label GeoTIFF (.tif) for one raster; a folder for several files or a point cloud's "
                         "classified .laz")
    ba.add_argument("--address", help="a running Ray cluster (host:port, ray://host:port or auto); default: start "
                                      "a local Ray on this machine")
    ba.add_argument("--workers", type=int, help="Ray workers (actors), each holding one engine (default: 2 for a "
                                                "local Ray, else one per CPU / GPU of the cluster)")
    ba.add_argument("--window", type=int, help="block side in pixels (default: memory-bounded blocks; scene "
                                               "bundles: a whole number of their tiles)")
    ba.add_argument("--area", type=int, nargs=4, metavar=("X", "Y", "W", "H"),
                    help="only this part of one raster (pixels: x, y offset, width, height); the output is its "
                         "grid (default: the whole raster)")
    ba.add_argument("--llm", help="GGUF LLM file (default: the embedded Gemma 3 270M)")
    ba.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                    help="auto: one GPU per worker on CUDA nodes, else one CPU")
    ba.add_argument("--bundles", help="an extra folder of bundles")
    ba.add_argument("--json", action="store_true", help="machine-readable output")
    ba.set_defaults(func=cmd_batch)

    from .service import command

    s = sub.add_parser("serve", help="run the ZeroMQ service for the QGIS plugin")
    command.add_serve_arguments(s)
    s.set_defaults(func=command.serve_main)
    pg = sub.add_parser("ping", help="exit 0 when the backend answers")
    command.add_ping_arguments(pg)
    pg.set_defaults(func=command.ping_main)
    return p


def main(argv=None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except AllSparkError as exc:
        print(f"allspark: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("allspark: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
