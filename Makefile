# Two commands set up a fresh machine:
#   make demo   builds the demo twin of a Hohhot district and serves it (API, viewer)
#   make test   runs the whole test suite
#   make demo-federation   a region, a city and a county twin on loopback (docs/federation.md)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := out/demo.gpkg
PORT ?= 8000

VIEWER_STAMP := viewer/web/node_modules/.installed
TOOLS_STAMP := tests/tools/node_modules/.installed

.PHONY: demo demo-build demo-federation viewer tools test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

# the web viewer's JavaScript (three.js) from npm, pinned by package-lock.json
$(VIEWER_STAMP): viewer/web/package.json viewer/web/package-lock.json
	cd viewer/web && npm ci --no-audit --no-fund --loglevel=error
	touch $(VIEWER_STAMP)

viewer: $(VIEWER_STAMP)

# the third-party clients the tests run (not shipped): the Khronos glTF validator and
# CesiumJS, pinned by tests/tools/package-lock.json
$(TOOLS_STAMP): tests/tools/package.json tests/tools/package-lock.json
	cd tests/tools && npm ci --no-audit --no-fund --loglevel=error
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

demo: demo-build viewer
	@echo "open http://127.0.0.1:$(PORT)/viewer/ (3D viewer) or http://127.0.0.1:$(PORT)/ (API)"
	$(BIN)/twin serve $(DEMO) --port $(PORT)

demo-build: $(STAMP)
	mkdir -p out
	$(BIN)/twin init $(DEMO) --crs EPSG:4546 --vertical-datum "1985 National Height Datum" --force
	$(BIN)/twin import sample_models/hohhot_demo/*.geojson sample_models/hohhot_demo/buildings.city.json sample_models/hohhot_demo/community_centre.ifc --id-prefix hohhot --twin $(DEMO)
	$(BIN)/twin import sample_models/hohhot_demo/survey/lines.csv --points sample_models/hohhot_demo/survey/points.csv --crs EPSG:4546 --twin $(DEMO)
	# a spring of meter readings with a leak in the south DMA (SensorThings, water balance)
	$(BIN)/python sample_models/hohhot_demo/sensors.py $(DEMO)
	$(BIN)/twin alerts $(DEMO) --as-of 2025-04-30T23:45:00+08:00
	$(BIN)/twin health-check $(DEMO) --year 2025 --save --out out/health_2025.html
	# two more years of deliveries, imported as updates (history, diff, trends)
	$(BIN)/python sample_models/hohhot_demo/years.py out/years
	for y in 2026 2027; do \
	  $(BIN)/twin import out/years/$$y/buildings.city.json out/years/$$y/pipes.geojson out/years/$$y/community_centre.ifc --update --retire-missing layers --id-prefix hohhot --twin $(DEMO) && \
	  $(BIN)/twin health-check $(DEMO) --year $$y --save --out out/health_$$y.html || exit 1; \
	done
	# 2025 is the state after the first 10 imports (9 files and the survey)
	$(BIN)/twin diff $(DEMO) --from 10 --html out/changes_2025_2027.html > /dev/null
	$(BIN)/twin info $(DEMO)

# three levels on loopback: region :8000 over the Hohhot city :8001 and a county :8002
demo-federation: demo-build viewer
	$(BIN)/twin init out/region.gpkg --crs EPSG:4546 --vertical-datum "1985 National Height Datum" --force
	$(BIN)/python sample_models/county_demo/generate.py out/county
	$(BIN)/twin init out/county.gpkg --crs EPSG:4546 --vertical-datum "1985 National Height Datum" --force
	$(BIN)/twin import out/county/county_town.geojson --twin out/county.gpkg
	rm -rf out/county_tiles
	$(BIN)/twin export out/county.gpkg --format 3dtiles --out out/county_tiles
	sh sample_models/county_demo/federation.sh $(BIN) out

# one test worker per core and one more: a worker waiting on a timeout, a server or
# a browser leaves its core to the others (2 cores: 4 min 43 s with three workers
# against 4 min 59 s with two, idle 7 s against 53 s; docs/benchmarks.md)
TEST_WORKERS ?= $(shell expr $$(nproc) + 1)
# the tests' files (tmp_path, their PostgreSQL clusters, Chromium's profiles) in
# memory where /dev/shm is a tmpfs with 4 GiB free (tests/memory_tmpdir.sh)
TEST_TMPDIR ?= $(shell sh tests/memory_tmpdir.sh)

# the type check runs beside the tests, on the core time the test workers leave
# idle (their start, the last worker's tail); its report follows the tests'.
# The tests keep byte code (__pycache__, ignored by git) even where the shell
# says not to (PYTHONDONTWRITEBYTECODE): each worker and each
# Python process the tests start (CLI calls, servers) would otherwise compile the project (and
# pytest rewrite every test module) again
test: $(STAMP) $(VIEWER_STAMP) $(TOOLS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy > $(VENV)/mypy.log 2>&1 & types=$$!; \
	env -u PYTHONDONTWRITEBYTECODE TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal; tests=$$?; \
	wait $$types; typed=$$?; cat $(VENV)/mypy.log; \
	test $$tests -eq 0 -a $$typed -eq 0

bench: $(STAMP)
	$(BIN)/python bench/store_bench.py

clean:
	rm -rf $(VENV) out .pytest_cache viewer/web/node_modules tests/tools/node_modules
