"""One question about two layers at once through the service (`ask_together`): the shipped dense
hyperspectral bundle on the demo field of Indian Pines and the shipped trajectory bundle on the demo
walkers of zara02 (real shared data), both bridges' tokens in one Gemma context; and the request's
bad input refused with its reason."""

from pathlib import Path

import numpy as np
import pytest

from allspark_protocol.client import BackendError

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(gemma_gguf, tmp_path_factory):
    from allspark_protocol.client import Client

    from allspark.engine import Engine
    from allspark.service.server import Server

    tmp = tmp_path_factory.mktemp("together")
    server = Server(engine=Engine(llm_path=str(gemma_gguf), device="cpu", bundles_dir=str(REPO / "bundles")),
                    connection_file=str(tmp / "backend.json")).start_thread()
    c = Client(server.connection_file, timeout_s=600, retries=0)
    yield c
    c.close()
    server.stop()


def test_one_question_about_a_field_and_walkers(client):
    import rasterio

    with rasterio.open(REPO / "demo" / "indian_pines_field.tif") as src:
        image = src.read().astype(np.float32)
        meta = {"transform": list(src.transform.to_gdal()), "crs": src.crs.to_wkt() if src.crs else None}
    pieces = []
    res = client.ask_together([("hsi-indian-pines-dense", {"image": image}, meta),
                               ("trajectory-eth-ucy", {}, {"path": str(REPO / "demo" / "eth_ucy_zara02_8_steps.txt")})],
                              "Which crops grow in the field, and where do the people walk?", on_token=pieces.append,
                              max_tokens=40)
    field, walkers = res["results"]
    assert field["task"] == "pixel_classification" and walkers["task"] == "trajectory"
    h, w = image.shape[1:]
    assert "pixels" in field["summary"] and "candidate futures" in walkers["summary"]
    assert np.asarray(walkers["paths"]).shape[1:] == (20, 12, 2)  # 20 futures of 12 steps per walker
    assert res["context_tokens"] > 2 * 8  # both bridges' 8 tokens, their prompts, the summaries, the question
    assert isinstance(res["text"], str) and "".join(pieces).strip() == res["text"]
    assert not res["text"].lower().startswith("question")  # not the question written back


def test_bad_requests_are_refused(client):
    with pytest.raises(BackendError, match="2 to 4"):
        client.ask_together([("hsi-indian-pines-dense", {}, {})], "one layer?")
    with pytest.raises(BackendError, match="needs 'prompt'"):
        client.ask_together([("a", {}, {}), ("b", {}, {})], "  ")
    with pytest.raises(BackendError, match="no bundle|not found|unknown"):
        client.ask_together([("no-such-bundle", {}, {"path": "x"}), ("trajectory-eth-ucy", {}, {})], "what?")
