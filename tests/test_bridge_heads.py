"""Bridge and heads: shapes, masks, output scale, gradients, and that heads can learn."""

import numpy as np
import pytest
import torch

from allspark import metrics
from allspark.bridge import LynxBridge, build_bridge
from allspark.heads import DenseHead, TrajectoryHead, build_head, decode


def test_bridge_shapes_scale_and_defaults():
    b = build_bridge({"output_rms": 3.0}, enc_dim=48, llm_dim=64)
    assert b.queries.shape == (32, 64) and len(b.layers) == 3  # Lynx defaults: N = 32, L = 3
    out = b(torch.randn(2, 10, 48))
    assert out.shape == (2, 32, 64)
    rms = out.pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.full_like(rms, 3.0), rtol=0.05)  # LayerNorm output times the LLM's RMS
    assert all(m.bias is None for m in b.modules() if isinstance(m, torch.nn.Linear))  # no bias (Lynx)


def test_bridge_mask_ignores_padded_tokens():
    torch.manual_seed(0)
    b = LynxBridge(8, 16, queries=4, layers=2, heads=2, head_dim=8).eval()
    x = torch.randn(1, 6, 8)
    mask = torch.tensor([[True, True, True, False, False, False]])
    y1 = b(x, mask)
    x2 = x.clone()
    x2[:, 3:] = 100.0  # garbage in the masked positions changes nothing
    assert torch.allclose(y1, b(x2, mask), atol=1e-5)


def test_bridge_batch_rows_equal_single_runs():
    """The first layer's query projection is computed once for the batch: each row must still equal the
    sample run alone, and a bridge without layers returns the queries for every sample."""
    torch.manual_seed(0)
    b = LynxBridge(8, 16, queries=4, layers=2, heads=2, head_dim=8).eval()
    x = torch.randn(3, 6, 8)
    with torch.no_grad():
        batch = b(x)
        for i in range(3):
            assert torch.allclose(batch[i], b(x[i : i + 1])[0], atol=1e-5)
        assert LynxBridge(8, 16, queries=4, layers=0)(x).shape == (3, 4, 16)


def test_bridge_gradients_reach_queries_and_inputs():
    b = LynxBridge(8, 16, queries=4, layers=1, heads=2, head_dim=8)
    x = torch.randn(3, 5, 8, requires_grad=True)
    b(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert b.queries.grad.abs().sum() > 0


def test_classification_head_learns_separable_features():
    torch.manual_seed(0)
    head = build_head("classification", {"classes": ["a", "b", "c"]}, llm_dim=16, enc_dim=8)
    x = torch.randn(60, 5, 16)
    y = torch.arange(60) % 3
    x[:, -1, :3] += torch.nn.functional.one_hot(y, 3) * 3
    opt = torch.optim.Adam(head.parameters(), 1e-2)
    for _ in range(100):
        opt.zero_grad()
        loss = head.loss(head(x, 4), y)
        loss.backward()
        opt.step()
    res = decode("classification", head(x, 4), {"classes": ["a", "b", "c"]})
    assert metrics.classification(y.numpy(), res["probabilities"].argmax(1), 3)["accuracy"] > 0.95
    assert np.allclose(res["probabilities"].sum(1), 1, atol=1e-5)


def test_regression_decode_undoes_normalisation():
    head = build_head("regression", {"targets": [{"name": "PM2.5", "unit": "ug/m3"}]}, 16, 8)
    out = torch.tensor([[0.0], [1.0], [-2.0]])
    res = decode("regression", out, {"targets": [{"name": "PM2.5", "unit": "ug/m3"}],
                                     "normalisation": {"target": {"mean": [80.0], "std": [40.0]}}})
    assert np.allclose(res["values"][:, 0], [80, 120, 0])
    assert head(torch.randn(3, 5, 16), 4).shape == (3, 1)


def test_trajectory_head_k_candidates_and_winner_takes_all():
    head = TrajectoryHead(16, k=20, horizon=12)
    paths, scores = head(torch.randn(4, 6, 16), 4)
    assert paths.shape == (4, 20, 12, 2) and scores.shape == (4, 20)
    target = torch.randn(4, 12, 2)
    loss = head.loss((paths, scores), target)
    loss.backward()
    res = decode("trajectory", (paths.detach(), scores.detach()), {"normalisation": {"target": {"scale": 2.0}}})
    assert np.allclose(res["scores"].sum(1), 1, atol=1e-5)
    assert np.allclose(res["paths"], paths.detach().numpy() * 2.0, atol=1e-5)


def test_dense_head_per_element_and_ignore_index():
    head = DenseHead(16, 8, n_classes=2)
    logits = head(torch.randn(2, 6, 16), 4, elements=torch.randn(2, 50, 8))
    assert logits.shape == (2, 50, 2)
    targets = torch.full((2, 50), -1)
    targets[:, :10] = 1
    assert torch.isfinite(head.loss(logits, targets))
    with pytest.raises(ValueError):
        head(torch.randn(2, 6, 16), 4)


def test_metrics_known_values():
    m = metrics.classification([0, 0, 1, 1], [0, 1, 1, 1], 2)
    assert m["accuracy"] == pytest.approx(0.75) and m["average_accuracy"] == pytest.approx(0.75)
    assert m["kappa"] == pytest.approx(0.5)
    r = metrics.regression(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [4.0]]))
    assert r["mae"] == pytest.approx(1 / 3) and r["rmse"] == pytest.approx(np.sqrt(1 / 3))
    fut = np.zeros((1, 12, 2))
    paths = np.stack([np.ones((12, 2)), np.zeros((12, 2))])[None]
    t = metrics.trajectory(fut, paths, np.array([[0.9, 0.1]]))
    assert t["min_ade"] == 0 and t["top1_ade"] == pytest.approx(np.sqrt(2))
    # int8's cost is positive when int8 is worse, whichever way the metric points (RMSE's sign was flipped)
    assert metrics.precision_cost("classification", {"accuracy": 0.80}, {"accuracy": 0.79}) == {"accuracy": pytest.approx(0.01)}
    assert metrics.precision_cost("regression", {"rmse": 57.0}, {"rmse": 57.5}) == {"rmse": pytest.approx(0.5)}
    assert metrics.precision_cost("regression", {"rmse": 57.3}, {"rmse": 57.2})["rmse"] < 0


def test_encoder_skip_starts_from_the_encoders_answer():
    """head.encoder_skip: the answer is the LLM head's output plus the encoder's own head's; the LLM head
    starts at zero, so stage 2 begins exactly where stage 1 ended, whatever the LLM's hidden states."""
    import torch

    from allspark.model import AllSparkModel

    manifest = {"modality": "hsi", "task": "classification", "classes": ["a", "b", "c"],
                "input": {"bands": 12, "patch": 1}, "encoder": {"dim": 32, "depth": 1, "heads": 2, "group": 4},
                "bridge": {"queries": 4, "layers": 1, "heads": 2, "head_dim": 8, "ffn_mult": 1},
                "head": {"encoder_skip": True}, "llm": {"n_embd": 48}}
    torch.manual_seed(0)
    model = AllSparkModel(manifest).eval()
    bridge, encoded = model.encode({"spectrum": torch.randn(5, 12)})
    assert bridge.shape == (5, 4, 48) and encoded.tokens.shape == (5, 4, 32)
    prior = model.encoder_head(encoded.tokens, encoded.tokens.shape[1], None)
    for _ in range(2):
        out = model.decide(torch.randn(5, 7, 48), encoded)
        torch.testing.assert_close(out, prior)
    # once the LLM head has learnt something, its reading of the hidden states counts
    torch.nn.init.normal_(model.head.out.weight)
    assert not torch.allclose(model.decide(torch.randn(5, 7, 48), encoded), prior)
