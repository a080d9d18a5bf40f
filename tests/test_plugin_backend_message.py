"""The backend manager's own message (what the status bar, the settings dialog and the dock read when
they show `manager.message`): the device only once the backend knows it, never "Backend ready on ?"."""


def test_ready_message_never_says_question_mark(qgis_app):
    from allspark_qgis.backend import READY, BackendManager

    seen = []
    m = BackendManager()
    m.stateChanged.connect(lambda state, message: seen.append((state, message)))

    m._ready({"engine_state": "starting", "service": {"engine_state": "starting"}}, [{"name": "a"}, {"name": "b"}])
    assert m.state == READY and seen[-1] == (READY, m.message)
    assert "?" not in m.message, m.message
    assert m.message.startswith("Backend ready; the model is still loading") and "2 bundle(s)" in m.message

    m._ready({"engine_state": "failed", "engine_error": "no GGUF at /x.gguf"}, [])
    assert "?" not in m.message and "could not be loaded: no GGUF at /x.gguf" in m.message, m.message

    m._ready({"engine_state": "ready", "device": "cpu"}, [{"name": "a"}])
    assert m.message == "Backend ready on CPU; 1 bundle(s)."
    m._ready({"device": "cuda"}, [])
    assert m.message == "Backend ready on CUDA (NVIDIA GPU); 0 bundle(s)."
