"""End to end through the real Engine: a tiny bundle trained against the tiny GGUF, served over ZeroMQ,
gives the same answers as the engine called directly (ask with streamed text, a tiled batch job)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from allspark_qgis.protocol.client import BackendError, Client

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "indian_pines_field.tif"


@pytest.fixture(scope="module")
def real_service(tmp_path_factory, tiny_gguf, tiny_bundle):
    from allspark.engine import Engine
    from allspark.service.server import Server

    engine = Engine(llm_path=str(tiny_gguf), runtime="llamacpp", precision="fp32")
    cf = tmp_path_factory.mktemp("svc") / "backend.json"
    # 800 KiB of pixel memory per block: 16 x 16 px blocks of the 200-band demo raster
    server = Server(engine=engine, connection_file=str(cf), heartbeat_s=0.2, tile_memory_bytes=800 * 1024)
    server.start_thread()
    yield server, engine
    server.stop()


def test_ask_and_batch_through_the_real_engine(real_service, tiny_bundle, tmp_path):
    if not DEMO.exists():
        pytest.skip(f"{DEMO} is missing")
    import rasterio

    server, engine = real_service
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(DEMO) as src:
            img = src.read(window=((4, 6), (8, 10))).astype(np.float32)  # 200 bands, 2 x 2 px
    with Client(server.connection_file, timeout_s=120) as c:
        health = c.health()
        assert health["engine_state"] == "ready" and health["device"] == "cpu"
        name = c.load_bundle(str(tiny_bundle))["name"]
        assert name in c.health()["bundles"]
        assert isinstance(c.list_bundles(), list)

        # ask: head result equal to the direct call, and a streamed text answer
        direct = engine.predict(name, engine.from_payload(name, {"image": img.copy()}, {}))
        tokens = []
        result = c.ask(name, {"image": img}, {}, prompt="Which class is this pixel?", on_token=tokens.append,
                       max_tokens=8)
        assert result["probabilities"].shape == (4, 16) and len(result["labels"]) == 4
        np.testing.assert_allclose(result["probabilities"], direct["probabilities"], atol=1e-5)
        assert "text" in result and "".join(tokens).strip() == result["text"]
        assert isinstance(result.get("summary"), str) and result["summary"]

        # a batch job over the file, in bounded blocks, equal to the direct prediction pixel by pixel
        out = tmp_path / "labels.json"
        blocks = []
        job = c.submit_batch(name, path=str(DEMO), output=str(out))
        res = c.wait(job, on_partial=lambda e: blocks.append(e["block"]))
        assert len(blocks) == 4 and all(b[2] <= 16 and b[3] <= 16 for b in blocks)
        samples = engine.read(name, str(DEMO))
        whole = engine.predict(name, samples)
        by_pixel = {(s.meta["row"], s.meta["col"]): p for s, p in zip(samples, whole["probabilities"])}
        got = {(m["y"], m["x"]): p for m, p in zip(res["samples"], res["probabilities"])}
        assert set(got) == set(by_pixel) and len(got) == len(samples)
        worst = max(np.abs(got[k] - by_pixel[k]).max() for k in got)
        assert worst < 1e-4
        saved = json.loads(out.read_text())
        assert len(saved["labels"]) == len(samples) and saved["classes"] == res["classes"]

        with pytest.raises(BackendError) as e:
            c.ask(name, {"image": img[:10]}, {})  # 10 bands for a 200-band bundle
        assert e.value.code == "input_error"
        c.unload_bundle(name)
        assert name not in c.health()["bundles"]


def test_progress_rate_limit_keeps_each_phases_first_words():
    """The COPC conversion's "writing node ..." once never reached the user on a fast machine: its 50 ms
    rate limit dropped every count of that phase. Counts within a phase are thinned; a new phase's
    first message always goes out, however fast the job runs."""
    from allspark.service.jobs import Job
    from allspark.service.steps import JobContext

    sent = []
    ctx = JobContext(Job(id="j", kind="convert_copc", request_id="r", owner=b"o", body={}), engine=None,
                     emit=lambda job, kind, body: sent.append(body["message"]),
                     settings={"progress_interval_s": 1e9})
    for message in ("starting", "reading", "sorting", "writing node 2 of 40", "writing node 4 of 40",
                    "writing node 1,024 of 2,048", "done"):
        ctx.progress(0.5, message)
    ctx.progress(0.7, "epoch 1/2 step 9")
    ctx.progress(0.8, "epoch 2/2 step 9")
    ctx.progress(1.0, "epoch 2/2 step 10")  # the end always goes out
    assert sent == ["starting", "reading", "sorting", "writing node 2 of 40", "done", "epoch 1/2 step 9",
                    "epoch 2/2 step 10"]
