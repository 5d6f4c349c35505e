# Two commands set up a fresh machine:
#   make demo   builds the demo twin of a Hohhot district and serves it (API, viewer)
#   make test   runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := out/demo.gpkg
PORT ?= 8000

VIEWER_STAMP := viewer/web/node_modules/.installed

.PHONY: demo demo-build viewer test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# the web viewer's JavaScript (three.js) from npm, pinned by package-lock.json
$(VIEWER_STAMP): viewer/web/package.json viewer/web/package-lock.json
	cd viewer/web && npm ci --no-audit --no-fund --loglevel=error
	touch $(VIEWER_STAMP)

viewer: $(VIEWER_STAMP)

demo: demo-build viewer
	@echo "open http://127.0.0.1:$(PORT)/viewer/ (3D viewer) or http://127.0.0.1:$(PORT)/ (API)"
	$(BIN)/twin serve $(DEMO) --port $(PORT)

demo-build: $(STAMP)
	mkdir -p out
	$(BIN)/twin init $(DEMO) --crs EPSG:4546 --vertical-datum "1985 National Height Datum" --force
	$(BIN)/twin import sample_models/hohhot_demo/*.geojson sample_models/hohhot_demo/buildings.city.json sample_models/hohhot_demo/community_centre.ifc --id-prefix hohhot --twin $(DEMO)
	$(BIN)/twin import sample_models/hohhot_demo/survey/lines.csv --points sample_models/hohhot_demo/survey/points.csv --crs EPSG:4546 --twin $(DEMO)
	$(BIN)/python sample_models/hohhot_demo/sensors.py $(DEMO)
	$(BIN)/twin alerts $(DEMO) --as-of 2025-04-30T23:45:00+08:00
	$(BIN)/twin info $(DEMO)

test: $(STAMP) $(VIEWER_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/store_bench.py

clean:
	rm -rf $(VENV) out .pytest_cache viewer/web/node_modules
