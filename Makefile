# AllSpark for QGIS. `make demo`: set up everything on a fresh Debian 12 machine, then run the main job
# on the embedded default LLM. `make test`: set up the same way, then run every test.
PY := .venv/bin/python
DEMO_BUNDLE ?= bundles/hsi-indian-pines
DEMO_INPUT ?= demo/indian_pines_field.tif
DEMO_PROMPT ?= Which crops grow in this field, and how sure are you?

.PHONY: setup demo test test-fast plugin bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(PY) -m allspark ask --bundle $(DEMO_BUNDLE) --input $(DEMO_INPUT) --prompt "$(DEMO_PROMPT)" --output demo/out/labels.tif

test: setup
	ALLSPARK_REQUIRE_ALL=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -ra --timeout=1800 tests

test-fast: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -ra -m "not integration" tests

plugin: setup
	$(PY) build.py

bench: setup
	$(PY) -m allspark bench --json

clean:
	rm -rf dist demo/out .pytest_cache
