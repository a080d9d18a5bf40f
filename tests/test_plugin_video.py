"""Video clips in QGIS (video modality) against a real backend (offscreen): a point layer whose field `clip`
holds each place's clip (a path relative to the layer's CSV: a square moving up, moving down, growing) is
detected as video, a bundle trains on it through "Train a bundle", and both the prompt dock and Processing's
"Predict attribute" add a copy of the layer with every clip's action; a missing or broken clip is named."""

import pytest
from support.data import VIDEO_CLASSES, action, clips_layer_uri, data_dir, write_clip
from support.plugin import backend_with_bundles, dock_run, run_algorithm


@pytest.fixture(scope="module")
def ready(qgis_processing):
    with backend_with_bundles(("tiny-video",)) as backend:
        yield backend


def clips(name="clips"):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(clips_layer_uri(data_dir() / "clips.csv"), name, "delimitedtext")
    assert layer.isValid() and layer.featureCount() == 48
    return layer


def accuracy(layer) -> float:
    rows = list(layer.getFeatures())
    assert rows and all(r["pred_class"] in VIDEO_CLASSES and 1 / 3 <= r["pred_prob"] <= 1 for r in rows)
    return sum(r["pred_class"] == r["action"] for r in rows) / len(rows)


def run_predict(layer):
    return run_algorithm("predict_attribute", {"INPUT": layer, "BUNDLE": "tiny-video"})


def test_a_layer_of_clips_is_video_and_other_layers_are_not(qgis_app):
    from allspark_qgis import families, modality
    from allspark_qgis.modality import LayerFacts, detect

    layer = clips()
    assert modality.detect_layer(layer) == "video"
    pts = dict(geometry="point")
    assert detect(LayerFacts("vector", fields=[("id", "int"), ("time", "datetime"), ("footage", "string")], **pts)) == "video"
    # a generic path field is video only when its values are clips
    assert detect(LayerFacts("vector", fields=[("name", "string"), ("file", "string")],
                             field_values={"file": ["a/b.MP4", "c.mov"]})) == "video"
    assert detect(LayerFacts("vector", fields=[("name", "string"), ("file", "string")],
                             field_values={"file": ["a/b.mp4", "report.pdf"]})) == "table"
    assert detect(LayerFacts("vector", fields=[("path", "string"), ("NO2", "double")])) == "table"
    assert detect(LayerFacts("vector", fields=[("clip", "int"), ("NO2", "double")])) == "table"  # not a path
    assert detect(LayerFacts("vector", fields=[("t", "double"), ("track_id", "string"), ("note", "string")],
                             **pts)) == "trajectory"
    # a question is about the first feature's clip, its path resolved against the layer's folder
    fam = families.of("video")
    arrays, meta = fam.question(layer, "video", {"name": "b"}, families.Selection())()
    first = next(layer.getFeatures())
    assert arrays == {} and meta["fids"] == [first.id()] and meta["field"] == "clip"
    assert meta["videos"] == [str(data_dir() / first["clip"])]
    # a run covers the selected features, BATCH_CLIPS paths per payload
    from allspark_qgis.families import video

    ids = [f.id() for f in layer.getFeatures()][:20]
    run = fam.prepare(layer, "video", {"name": "b"}, families.Selection(feature_ids=ids), "")
    assert run.total == 20 and run.question()[1]["fids"] == ids[:1]
    payloads = video.clips_payloads(layer, layer, {"name": "b"}, ids)
    assert [len(m["videos"]) for _, m in payloads] == [16, 4] and sum((m["fids"] for _, m in payloads), []) == ids
    assert fam.training_parameters(layer) == {"TARGET_FIELD": "action"}
    # the field a bundle was trained on comes first; else a video-named one; else the one holding clips
    from qgis.core import QgsFeature, QgsVectorLayer

    two = QgsVectorLayer("Point?field=clip:string&field=video:string&field=media_ref:string", "two", "memory")
    f = QgsFeature(two.fields())
    f.setAttributes(["a.avi", "b.avi", "c.webm"])
    two.dataProvider().addFeatures([f])
    assert video.video_field(two) == "clip" and video.video_field(two, {"read_options": {"path_field": "video"}}) == "video"
    assert video.video_field(two, exclude="clip") == "video"
    one = QgsVectorLayer("Point?field=media_ref:string&field=place:string", "one", "memory")
    f = QgsFeature(one.fields())
    f.setAttributes(["c.webm", "a walk"])
    one.dataProvider().addFeatures([f])
    assert video.video_field(one) == "media_ref" and modality.detect_layer(one) == "table"


def test_the_bundle_trained_on_the_layer_knows_its_field(ready):
    from allspark_qgis import connection

    b = connection.bundle("tiny-video", refresh=True)
    assert (b["modality"], b["task"]) == ("video", "classification")
    assert sorted(b["classes"]) == sorted(VIDEO_CLASSES)
    assert b["read_options"] == {"path_field": "clip", "label_field": "action", "frames": 8, "size": 32}
    assert (b["input"]["frames"], b["input"]["size"]) == (8, 32)


def test_the_dock_classifies_every_clip(ready, qgis_app, qgis_iface, qgis_new_project):
    from qgis.core import QgsProject

    layer = clips()
    QgsProject.instance().addMapLayer(layer)
    from allspark_qgis import modality

    assert modality.detect_layer(layer) == "video"
    entry, added = dock_run(qgis_app, qgis_iface, layer, "tiny-video", 180)
    assert entry["modality"] == "video"
    (copy,) = added
    assert copy.featureCount() == 48
    assert accuracy(copy) >= 0.8  # 3 actions: chance is 1/3


def test_predict_attribute_classifies_every_clip(ready, qgis_app, qgis_new_project):
    from qgis.core import QgsProject

    layer = clips("places")
    QgsProject.instance().addMapLayer(layer)  # the relative paths are resolved against its file's folder
    out = run_predict(layer)
    assert out.featureCount() == 48
    assert accuracy(out) >= 0.8


def test_a_missing_or_broken_clip_is_named(ready, qgis_app, qgis_new_project, tmp_path):
    import numpy as np
    from qgis.core import QgsProcessingException, QgsProject, QgsVectorLayer

    write_clip(tmp_path / "up.avi", action("MoveUp", np.random.default_rng(1)))
    (tmp_path / "broken.mp4").write_bytes(b"\0" * 2048)
    (tmp_path / "gaps.csv").write_text("id,x,y,clip,action\n1,500010,4000010,up.avi,MoveUp\n"
                                       "2,500020,4000020,gone/none.avi,Grow\n", encoding="utf-8")
    gaps = QgsVectorLayer(clips_layer_uri(tmp_path / "gaps.csv"), "gaps", "delimitedtext")
    QgsProject.instance().addMapLayer(gaps)
    fid = [f.id() for f in gaps.getFeatures()][1]
    with pytest.raises(QgsProcessingException, match=rf"Feature {fid} of 'gaps': the video clip 'gone/none.avi' "
                                                     r"\(field 'clip'\) is not there: .*gone/none.avi"):
        run_predict(gaps)
    # a file that is there but is no video: the backend names the feature and the file
    (tmp_path / "bad.csv").write_text("id,x,y,clip,action\n1,500010,4000010,up.avi,MoveUp\n"
                                      "2,500020,4000020,broken.mp4,Grow\n", encoding="utf-8")
    bad = QgsVectorLayer(clips_layer_uri(tmp_path / "bad.csv"), "bad", "delimitedtext")
    QgsProject.instance().addMapLayer(bad)
    with pytest.raises(QgsProcessingException, match=rf"feature {fid} of 'bad' \(field 'clip'\): .*broken.mp4: not a video"):
        run_predict(bad)


def test_a_run_goes_batch_by_batch_and_a_cancel_stops_it(ready, qgis_app):
    """Progress in rows of the whole run; a cancel during the first of three batches sends no other."""
    from allspark_qgis import connection, families, runner

    class Recorded(runner.Feedback):  # the plain-code feedback: what a run reports, and a cancel at 16 of 48
        def __init__(self):
            self.seen, self.stop = [], False

        def progress(self, fraction, message=""):
            self.seen.append((fraction, message))
            self.stop = self.stop or fraction >= 16 / 48 - 1e-9

        def canceled(self):
            return self.stop

    layer = clips()
    manifest = connection.bundle("tiny-video", refresh=True)
    run = families.of("video").prepare(layer, "video", manifest, families.Selection(), "")
    assert run.total == 48
    fb = Recorded()
    client = connection.client()
    sent = []
    submit = client.submit_batch
    client.submit_batch = lambda *a, **k: sent.append(k.get("payloads") or a[1]) or submit(*a, **k)
    try:
        with pytest.raises(runner.Cancelled):
            run.predict(client, fb)
    finally:
        connection._close(client)
    assert len(sent) == 1 and [len(p["meta"]["videos"]) for p in sent[0]] == [16]
    assert max(f for f, _ in fb.seen) <= 16 / 48 + 1e-9
    assert any("of 48 rows" in m for _, m in fb.seen), fb.seen


def test_ask_about_the_first_clip(ready, qgis_app, qgis_new_project):
    from qgis.core import QgsProject

    from qgis import processing

    layer = clips("asked")
    QgsProject.instance().addMapLayer(layer)
    res = processing.run("allspark:ask", {"INPUT": layer, "BUNDLE": "tiny-video", "PROMPT": "Which action is this?",
                                          "MAX_TOKENS": 4})
    assert res["BUNDLE_USED"] == "tiny-video" and isinstance(res["ANSWER"], str)
    first = next(run_predict(layer).getFeatures())  # the first feature's class in a run
    assert res["SUMMARY"].startswith(f"Classified as {first['pred_class']} ("), res["SUMMARY"]
