# Two commands set up a fresh machine:
#   make demo   builds the demo twin of a Hohhot district and serves it (API, viewer)
#   make test   runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := out/demo.gpkg
PORT ?= 8000

.PHONY: demo demo-build test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: demo-build
	$(BIN)/twin serve $(DEMO) --port $(PORT)

demo-build: $(STAMP)
	mkdir -p out
	$(BIN)/twin init $(DEMO) --crs EPSG:4546 --vertical-datum "1985 National Height Datum" --force
	$(BIN)/twin import sample_models/hohhot_demo/*.geojson --twin $(DEMO)
	$(BIN)/twin import sample_models/hohhot_demo/survey/lines.csv --points sample_models/hohhot_demo/survey/points.csv --crs EPSG:4546 --twin $(DEMO)
	$(BIN)/twin info $(DEMO)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/store_bench.py

clean:
	rm -rf $(VENV) out .pytest_cache
