"""Helpers shared by the tests (plain modules, no tests; pytest puts tests/ on sys.path, so a test says
`from support.data import data_dir`):

- `support.service`: ArrayEngine, a fake engine doing real numpy work whose `held` bundle waits on a Gate
  the test opens (no sleeps), and `backend_process` (a real `allspark serve` on it);
- `support.data`: small real data the tests write (GeoTIFFs, CSVs, a COPC file, labelled points);
- `support.plugin`: the session's real backend for the plugin tests, Processing providers, the Qt pump,
  the plugin loaded on it, and GatedClients (a dock task's work held until the test lets it go);
- `support.qgis_window`: a real QGIS window under Xvfb for the tests/test_gui_*.py integration tests.

Fixtures built on these live in tests/conftest.py.
"""
