"""`allspark bench` measures what the issue names (figures, not timed assertions)."""

from allspark.bench import run_bench


def test_bench_reports_every_figure(tiny_gguf, tiny_bundle):
    r = run_bench(llm=str(tiny_gguf), quick=True, include_service=True, modalities=["hsi", "trajectory"],
                  bundles=[str(tiny_bundle)])
    assert r["llamacpp_prompt_tokens_per_s"] > 0 and r["peak_rss_mb"] > 0
    for name in ("hsi", "trajectory"):
        e = r["modalities"][name]
        for key in ("llamacpp_batched_samples_per_s", "llamacpp_single_samples_per_s", "torch_samples_per_s",
                    "llamacpp_over_torch", "batched_over_single", "pipeline_share_of_llm"):
            assert e[key] > 0, (name, key, e)
        assert set(e["stage_s"]) == {"encode_s", "llm_s", "head_s"}
    b = r["bundles"]["tiny-hsi"]  # --bundle: a user's bundle measured on its modality's bench sample
    assert b["modality"] == "hsi" and b["llamacpp_batched_samples_per_s"] > 0 and b["pipeline_share_of_llm"] > 0
    assert r["parity"]["min_cosine"] > 0.99 and r["parity"]["max_prob_diff"] < 0.02
    assert set(r["checks"]) >= {"pipeline_share_max", "llamacpp_over_torch_min", "batched_over_single_min"}
    s = r["service"]
    assert s["ping_ms"]["p50"] > 0 and s["throughput"]["ratio"] > 0
    assert s["ask"]["overhead_ms"] is not None and s["ask_modality"] == "hsi"
