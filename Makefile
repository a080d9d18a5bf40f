# AllSpark for QGIS. `make demo`: set up everything on a fresh Debian 12 machine, then run the main job
# on the embedded default LLM. `make test`: set up the same way, then run every test.
PY := .venv/bin/python
DEMO_BUNDLE ?= bundles/hsi-indian-pines
DEMO_INPUT ?= demo/indian_pines_field.tif
DEMO_PROMPT ?= Which crops grow in this field, and how sure are you?

.PHONY: setup demo test test-fast plugin bench bundles clean

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

# Rebuild the shipped bundles from ../shared/data (2-core CPU, measured beside other jobs: HSI ~6 min, dense HSI ~2 min,
# PM2.5 ~65 min,
# trajectories ~50 min, SAR ~20 min, RGB ~10 min, point cloud ~7 min, METR-LA graph ~9 min, IMDB text ~48 min,
# CodeXGLUE Ruby code ~33 min), then score each
# through llama.cpp on its validation split beside the alternatives an analyst would use (docs/RESULTS.md).
DATA ?= ../shared/data
BRIDGE8 = '{"queries": 8, "layers": 2, "heads": 8, "head_dim": 64, "ffn_mult": 2}'
bundles: setup
	$(PY) -m allspark train --modality hsi --data $(DATA)/hsi_indian_pines --out bundles/hsi-indian-pines \
	  --name hsi-indian-pines --options '{"patch": 9, "block": 16}' --pretrain-epochs 100 --epochs 3 --lr 5e-4 \
	  --batch-size 16 --bridge $(BRIDGE8) --head '{"encoder_skip": true}' --threads 2
	$(PY) -m allspark eval --bundle bundles/hsi-indian-pines --data $(DATA)/hsi_indian_pines --split validation \
	  --precision both --baseline
	$(PY) -m allspark train --modality hsi --task pixel_classification --data $(DATA)/hsi_indian_pines \
	  --out bundles/hsi-indian-pines-dense --name hsi-indian-pines-dense --options '{"tile": 16, "margin": 4, "block": 16}' \
	  --pretrain-epochs 150 --pretrain-lr 2e-3 --pretrain-batch-size 8 --epochs 3 --lr 5e-4 --batch-size 8 \
	  --bridge $(BRIDGE8) --head '{"encoder_skip": true, "encoder_head": "elements"}' --threads 1
	$(PY) -m allspark eval --bundle bundles/hsi-indian-pines-dense --data $(DATA)/hsi_indian_pines --split validation \
	  --precision both --baseline
	$(PY) -m allspark train --modality table --data $(DATA)/table_prsa_beijing --out bundles/table-prsa-pm25 \
	  --name table-prsa-pm25 --pretrain-epochs 12 --pretrain-batch-size 512 --epochs 2 --lr 5e-4 --batch-size 16 \
	  --llm-max-samples 4000 --bridge $(BRIDGE8) --head '{"encoder_skip": true}' --threads 2
	$(PY) -m allspark eval --bundle bundles/table-prsa-pm25 --data $(DATA)/table_prsa_beijing --split validation \
	  --max-samples 3000 --precision both --baseline
	$(PY) -m allspark train --modality trajectory --data $(DATA)/trajectory_eth_ucy --out bundles/trajectory-eth-ucy \
	  --name trajectory-eth-ucy --pretrain-epochs 40 --pretrain-batch-size 256 --epochs 2 --lr 5e-4 --batch-size 16 \
	  --llm-max-samples 3000 --bridge $(BRIDGE8) --head '{"encoder_skip": true}' --threads 1
	$(PY) -m allspark eval --bundle bundles/trajectory-eth-ucy --data $(DATA)/trajectory_eth_ucy --split validation \
	  --max-samples 3000 --precision both --baseline
	$(PY) -m allspark train --modality sar --data $(DATA)/sar_mstar10/train_17deg --out bundles/sar-mstar10 \
	  --name sar-mstar10 --options '{"size": 88}' --pretrain-epochs 120 --epochs 2 --lr 5e-4 --batch-size 16 \
	  --llm-max-samples 1500 --bridge $(BRIDGE8) --head '{"encoder_skip": true}' --threads 2
	$(PY) -m allspark eval --bundle bundles/sar-mstar10 --data $(DATA)/sar_mstar10/train_17deg --split validation \
	  --precision both --baseline
	$(PY) -m allspark train --modality rgb --data $(DATA)/rgb_ucmerced --out bundles/rgb-ucmerced --name rgb-ucmerced \
	  --encoder '{"type": "cnn", "dim": 192, "channels": [32, 64, 128, 256], "tokens": 8, "dropout": 0.1}' \
	  --val-fraction 0.2 --pretrain-epochs 100 --pretrain-lr 2e-3 --pretrain-batch-size 32 --epochs 3 --lr 5e-4 \
	  --batch-size 16 --bridge $(BRIDGE8) --head '{"encoder_skip": true}' --threads 2
	$(PY) -m allspark eval --bundle bundles/rgb-ucmerced --data $(DATA)/rgb_ucmerced --split validation \
	  --precision both --baseline
	$(PY) -m allspark train --modality pointcloud --data $(DATA)/pointcloud_lidar/autzen_west.laz \
	  --out bundles/pointcloud-autzen-ground --name pointcloud-autzen-ground --options '{"heights": [1, 2.5, 5, 10]}' \
	  --encoder '{"dim": 128, "depth": 2}' --pretrain-epochs 300 --pretrain-lr 2e-3 --pretrain-batch-size 8 \
	  --epochs 4 --lr 5e-4 --batch-size 4 --bridge $(BRIDGE8) --head '{"encoder_skip": true}' --cpu-precision fp32 \
	  --threads 1
	$(PY) -m allspark eval --bundle bundles/pointcloud-autzen-ground --data $(DATA)/pointcloud_lidar/autzen_west.laz \
	  --split validation --precision both --baseline
	$(PY) -m allspark train --modality graph --data $(DATA)/graph_metr_la --out bundles/graph-metr-la --name graph-metr-la \
	  --encoder '{"dim": 48, "spatial_depth": 2}' --pretrain-epochs 25 --pretrain-lr 2e-3 --pretrain-batch-size 32 \
	  --epochs 2 --lr 5e-4 --batch-size 16 --llm-max-samples 400 --bridge $(BRIDGE8) --head '{"encoder_skip": true}' \
	  --threads 2
	$(PY) -m allspark eval --bundle bundles/graph-metr-la --data $(DATA)/graph_metr_la --split validation \
	  --precision both --baseline
	$(PY) -m allspark train --modality text --data $(DATA)/text_imdb/imdb_train.jsonl.gz --out bundles/text-imdb \
	  --name text-imdb --max-samples 3000 --epochs 30
	$(PY) -m allspark eval --bundle bundles/text-imdb --data $(DATA)/text_imdb/imdb_train.jsonl.gz --split validation \
	  --baseline
	$(PY) -m allspark eval --bundle bundles/text-imdb --data $(DATA)/text_imdb/imdb_train.jsonl.gz --split unused \
	  --max-samples 600
	$(PY) -m allspark train --modality code --data $(DATA)/code_codexglue_ruby/valid.jsonl --out bundles/code-ruby \
	  --name code-ruby --epochs 100 --batch-size 64 --lr 1e-3
	$(PY) -m allspark eval --bundle bundles/code-ruby --data $(DATA)/code_codexglue_ruby/valid.jsonl --split validation \
	  --baseline

bench: setup
	$(PY) -m allspark bench --json
	$(PY) -m allspark bench --dense bundles/hsi-indian-pines-dense --data $(DATA)

clean:
	rm -rf dist demo/out .pytest_cache
