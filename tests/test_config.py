"""The configuration tables (``config/``): the instruction's sizes and barème, the one
vocabulary of stages and column titles, and cached results that follow an edited table."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import couverture
from couverture import _cache, _config, settings
from couverture._cache import code_version
from couverture._errors import ArgumentError, ConfigError

# Instruction on CPTS (ACI avenant 2): taille by population covered, maximum annual funding.
SIZE_BOUNDARIES = [
    (0, 1),
    (39_999, 1),
    (40_000, 2),
    (79_999, 2),
    (80_000, 3),
    (174_999, 3),
    (175_000, 4),
    (2_000_000, 4),
]
BAREME_AVENANT2 = {1: 220_000, 2: 287_000, 3: 370_000, 4: 450_000}


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the package's ``config/``, in use until the end of the test."""
    copy = tmp_path / "config"
    shutil.copytree(settings.CONFIG_DIR, copy)
    monkeypatch.setenv("COUVERTURE_CONFIG", str(copy))
    _config.clear_caches()
    yield copy
    monkeypatch.undo()
    _config.clear_caches()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(("population", "taille"), SIZE_BOUNDARIES)
def test_size_boundaries_of_the_instruction(population: int, taille: int) -> None:
    assert _config.size_class(population) == taille


def test_funding_of_the_instruction() -> None:
    assert _config.funding_table("avenant2") == BAREME_AVENANT2
    assert _config.sources()["analyse"]["bareme_financement"] == "avenant2"
    with pytest.raises(ArgumentError, match="barème de financement inconnu"):
        _config.funding_table("avenant9")


@pytest.mark.parametrize("population", [-1, float("nan"), float("inf")])
def test_size_class_refuses_impossible_populations(population: float) -> None:
    with pytest.raises(ArgumentError, match="population invalide"):
        _config.size_class(population)


def test_cpts_table_follows_the_instruction(
    tmp_path: Path, units: pd.DataFrame, write_registry
) -> None:
    pop = units.set_index("code")["population"]
    claims = {
        "M": ["35288"],
        "B": ["35047"],
        "R": ["35238"],
        "C": ["35288", "22278"],
        "V": ["56121", "56260"],
    }
    rows = [
        {"cpts_id": cid, "nom_cpts": f"CPTS {cid}", "stade": "aci", "code_insee": code}
        for cid, codes in claims.items()
        for code in codes
    ]
    with couverture.analyse(write_registry(tmp_path / "r.csv", rows)) as a:
        table = a.cpts()
    # a unit claimed by two CPTS without a share counts half for each (Saint-Malo: M and C)
    population = {
        "M": pop["35288"] / 2,
        "B": pop["35047"],
        "R": pop["35238"],
        "C": pop["35288"] / 2 + pop["22278"],
        "V": pop["56121"] + pop["56260"],
    }
    # 23,720 / 19,683 / 230,890 / 68,084 / 114,119 inhabitants
    expected = {"M": 1, "B": 1, "R": 4, "C": 2, "V": 3}
    bounds = {1: (0, 40_000), 2: (40_000, 80_000), 3: (80_000, 175_000), 4: (175_000, 10**9)}
    for cid, taille in expected.items():
        lo, hi = bounds[taille]
        assert lo <= population[cid] < hi  # the real populations are where the test says
        assert table.loc[cid, "taille"] == taille
        assert table.loc[cid, "financement_max"] == BAREME_AVENANT2[taille]


def test_malformed_size_table_is_a_config_error(config_copy: Path) -> None:
    _edit(config_copy / "tailles.csv", "2,40000,80000", "2,45000,80000")
    with pytest.raises(ConfigError, match=r"tailles\.csv, ligne 3"):
        _config.size_class(50_000)


def test_funding_must_cover_every_size(config_copy: Path) -> None:
    _edit(config_copy / "financement.csv", 'avenant2,4,450000,"ACI CPTS, avenant 2 (2022)"\n', "")
    with pytest.raises(ConfigError, match="sans montant pour la taille 4"):
        _config.funding_table("avenant2")


def test_every_config_file_is_part_of_the_cache_key(config_copy: Path) -> None:
    before = code_version()
    for path in sorted(config_copy.iterdir()):
        path.write_bytes(path.read_bytes() + b"\n")
        _config.clear_caches()
        after = code_version()
        assert after != before, path.name
        before = after


def test_editing_funding_or_sizes_invalidates_cached_results(
    config_copy: Path,
    tmp_path: Path,
    units: pd.DataFrame,
    write_registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_cache, "cache_dir", lambda: tmp_path / "cache")  # a cache of our own
    # Saint-Malo alone: 47,439 inhabitants, taille 2 by the instruction
    assert 40_000 <= units.set_index("code").loc["35288", "population"] < 50_000
    rows = [{"cpts_id": "A", "nom_cpts": "CPTS A", "stade": "aci", "code_insee": "35288"}]
    registry = write_registry(tmp_path / "r.csv", rows)

    def figures() -> tuple[str, list[int]]:
        _config.clear_caches()
        with couverture.analyse(registry) as a:
            a.cpts()  # cached now, if it was not
            assert _cache.get_frame("cpts|stade=", a.digest) is not None
            return a.digest, a.cpts().loc["A", ["taille", "financement_max"]].tolist()

    digest0, first = figures()
    assert first == [2, 287_000]
    assert figures() == (digest0, first)  # unchanged config: the same key, the same answer

    _edit(config_copy / "financement.csv", "avenant2,2,287000", "avenant2,2,300000")
    digest1, second = figures()
    assert digest1 != digest0
    assert second == [2, 300_000]

    _edit(config_copy / "tailles.csv", "1,0,40000\n2,40000,", "1,0,50000\n2,50000,")
    digest2, third = figures()
    assert digest2 not in (digest0, digest1)
    assert third == [1, 220_000]


def test_stage_vocabulary_is_one_table() -> None:
    stages = _config.stages()
    assert [s.code for s in stages] == ["lettre_intention", "projet_sante", "aci"]
    assert [s.rank for s in stages] == [1, 2, 3]
    assert _config.stage("aci").label == "ACI signé"
    # rank 0: a project before its lettre d'intention, one spelling for every document
    assert _config.pre_stage().code == "" and _config.pre_stage().rank == 0
    assert _config.pre_stage().label == "Projet avant lettre d'intention"
    assert [_config.stage_rank(c) for c in ("", None, "aci", "inconnu")] == [0, 0, 3, 0]
    # the live view the modules import
    assert _config.stage_codes() == tuple(_config.STAGES)
    assert "aci" in _config.STAGES and list(_config.STAGES)[-1] == "aci"
    with pytest.raises(AttributeError):
        _ = settings.NOT_A_SETTING


def test_stage_ranks_in_sql(tmp_path: Path) -> None:
    import duckdb

    con = duckdb.connect()
    codes = con.execute(
        "SELECT s, r, "
        + _config.stage_code_sql("r")
        + " AS back FROM (SELECT s, "
        + _config.stage_rank_sql("s")
        + " AS r FROM (VALUES ('aci'), ('lettre_intention'), ('projet_sante'), ('x')) t(s))"
        " ORDER BY s"
    ).fetchall()
    assert codes == [
        ("aci", 3, "aci"),
        ("lettre_intention", 1, "lettre_intention"),
        ("projet_sante", 2, "projet_sante"),
        ("x", None, None),
    ]


def test_every_output_column_has_a_title() -> None:
    from couverture.coverage import unit_output_columns

    columns = [
        *unit_output_columns(),
        *(f"taux_{s}" for s in _config.stage_codes()),
        "financement_max",
        "zone_id",
        "motif",
    ]
    for kind in ("titre", "court", "page"):
        titles = _config.column_titles(kind)
        missing = [c for c in columns if not titles.get(c)]
        assert not missing, (kind, missing)
    assert _config.column_titles()["pop_projet_sante"] == (
        "Population couverte (projet de santé ou plus)"
    )
    assert _config.column_titles("court")["pop_lettre_intention"] == "Pop. ≥ LI"
    # report.COLUMN_TITLES reads the same table
    from couverture.report import COLUMN_TITLES

    assert dict(COLUMN_TITLES) == _config.column_titles("titre")


def test_duplicate_column_title_is_a_config_error(config_copy: Path) -> None:
    with (config_copy / "titres_colonnes.csv").open("a", encoding="utf-8") as fh:
        fh.write("code,Code bis,,\n")
    with pytest.raises(ConfigError, match="colonne « code » en double"):
        _config.column_titles()


def test_source_file_names_come_from_sources_toml() -> None:
    for section in ("population", "anciens_codes", "bassins_vie"):
        path = _config.source_path(section)
        assert path.parent == settings.RAW_DIR
        assert path.name == _config.sources()[section]["file"]
        assert path.exists(), path
    for name in ("POPULATION_RP2023_PATH", "OLD_CODES_PATH", "BASSINS_VIE_PATH"):
        assert not hasattr(settings, name)


def test_every_module_reads_its_table_where_config_dir_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alerts, plan, porteurs and suggest follow `COUVERTURE_CONFIG` and `clear_caches()`,
    even when they were imported and read before it moved (a notebook, the test session)."""
    from couverture import alerts, plan, porteurs, suggest

    readers = (alerts.thresholds, plan.vocabulary, suggest._params, porteurs.config)
    assert all(read() for read in readers)  # read once from the package's own config/
    copy = tmp_path / "config"
    shutil.copytree(settings.CONFIG_DIR, copy)
    monkeypatch.setenv("COUVERTURE_CONFIG", str(copy))
    try:
        text = (copy / "alertes.toml").read_text(encoding="utf-8")
        (copy / "alertes.toml").write_text(
            text.replace("lettre_intention_mois_max = 12", "lettre_intention_mois_max = 7"),
            encoding="utf-8",
        )
        (copy / "plan.toml").write_text('strategies = ["une seule"]\n', encoding="utf-8")
        (copy / "propositions.toml").write_text("[a]\nb = 1\n", encoding="utf-8")
        (copy / "porteurs.toml").write_text("[c]\nd = 2\n", encoding="utf-8")
        _config.clear_caches()
        assert alerts.thresholds()["stades"]["lettre_intention_mois_max"] == 7
        assert plan.vocabulary() == {"strategies": ["une seule"]}
        assert suggest._params() == {"a": {"b": 1}}
        assert porteurs.config() == {"c": {"d": 2}}
    finally:
        monkeypatch.undo()
        _config.clear_caches()


def test_stage_vocabulary_needs_its_rank_0(config_copy: Path) -> None:
    _edit(config_copy / "vocabulaire_stades.csv", ",0,Projet avant lettre d'intention,", ",9,x,")
    with pytest.raises(ConfigError, match=r"vocabulaire_stades\.csv : les rangs des stades"):
        _config.stages()


def test_column_tables_are_read_through_the_config_door(config_copy: Path) -> None:
    """`colonnes.csv`, `colonnes_perimetres.csv` and `departements_voisins.csv` follow
    `COUVERTURE_CONFIG` and `clear_caches()` like every table, and a broken row is named."""
    from couverture import _registry_cpts, _registry_read

    assert _registry_read._match_columns(["Code INSEE", "Numéro CPTS"]) == {"code": [0]}
    with (config_copy / "colonnes.csv").open("a", encoding="utf-8") as fh:
        fh.write("cpts_id,numero_cpts\n")
    couverture.clear_caches()
    assert _registry_read._match_columns(["Code INSEE", "Numéro CPTS"]) == {
        "code": [0],
        "cpts_id": [1],
    }
    assert "numero_cpts" not in _registry_read._expected_columns()  # the three usual names
    assert _registry_cpts._touching_groups({"05", "38", "48"}) == [["05", "38"], ["48"]]

    lines = (config_copy / "departements_voisins.csv").read_text(encoding="utf-8").splitlines()
    broken = [*lines[:3], "07,", *lines[3:]]
    (config_copy / "departements_voisins.csv").write_text("\n".join(broken), encoding="utf-8")
    couverture.clear_caches()
    empty = r"departements_voisins\.csv, ligne 4 : colonne « voisin » vide"
    with pytest.raises(ConfigError, match=empty):
        _registry_cpts._touching_groups({"05", "38"})

    (config_copy / "colonnes_perimetres.csv").write_text("role;alias\n", encoding="utf-8")
    absent = r"colonnes_perimetres\.csv, ligne 1 : colonnes « role », « alias » absentes"
    with pytest.raises(ConfigError, match=absent):
        _config.column_aliases("colonnes_perimetres.csv")
    (config_copy / "colonnes.csv").unlink()
    couverture.clear_caches()
    with pytest.raises(ConfigError, match=r"colonnes\.csv : fichier de configuration introuvable"):
        _config.column_aliases()


def test_a_table_without_one_of_its_columns_is_named(config_copy: Path) -> None:
    """A renamed column is a ConfigError naming the file and its header, not a KeyError."""
    _edit(config_copy / "financement.csv", "montant_max_annuel_eur", "montant")
    with pytest.raises(
        ConfigError, match=r"financement\.csv, ligne 1 : colonne « montant_max_annuel_eur » absente"
    ):
        _config.funding_table("avenant2")
    _edit(config_copy / "titres_colonnes.csv", "colonne,titre,court,page", "colonne,titre,page")
    with pytest.raises(ConfigError, match=r"titres_colonnes\.csv, ligne 1 : colonne « court »"):
        _config.column_titles("page")
