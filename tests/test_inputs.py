"""Every input file through one checked door, and inputs as ARS and CPAM really hold them
(issue 17, items 2, 3, 9, 10, 11, 12): Windows-1252 names-only registries, perimeter layers
named their own way, porteur positions far from their commune, dropped or swapped perimeters,
special files, full disks, leftovers of a killed write, library warnings.

Real communes of Ille-et-Vilaine and La Réunion; every bad file is built in ``tmp_path``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from couverture import settings
from couverture._errors import PlanError, RegistryError
from couverture.registry import read_registry

BIN = Path(sys.executable).parent / "couverture"
FINESS = Path(__file__).parent / "data" / "finess_etablissements_35.csv"
RENNES = ["35238", "35047", "35051", "35055", "35024"]  # Rennes, Bruz, Cesson, Chantepie…
VITRE = ["35360", "35006", "35068"]  # Vitré, Argentré-du-Plessis, Châteaubourg
FOUGERES = "35115"


@pytest.fixture(scope="module")
def geometries() -> gpd.GeoDataFrame:
    """Unit geometries (WGS84) by code, as ``Analysis.geometries`` gives them."""
    raw = pd.read_parquet(settings.UNITS_PATH, columns=["code", "geometry"]).dropna()
    geoms = shapely.from_wkb(raw["geometry"].map(bytes).to_numpy())
    frame = gpd.GeoDataFrame({"code": raw["code"]}, geometry=geoms, crs="EPSG:4326")
    return frame.set_index("code")


@pytest.fixture(scope="module")
def read(units, old_codes, geometries):
    def _read(path, **options):
        options.setdefault("unit_geometries", geometries)
        return read_registry(path, units=units, old_codes=old_codes, **options)

    return _read


def run(*args: str, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process; ``timeout`` only guards against a hang."""
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def perimeters(geometries: gpd.GeoDataFrame, *groups: list[str]) -> list:
    """One WGS84 polygon per group of communes (dissolved, lightly simplified)."""
    local = geometries.to_crs(settings.CRS_METRIC)
    shapes = [local.loc[g].union_all().simplify(100) for g in groups]
    return list(gpd.GeoSeries(shapes, crs=settings.CRS_METRIC).to_crs("EPSG:4326"))


def swapped(shape):
    return shapely.transform(shape, lambda xy: xy[:, ::-1])


def members(registry) -> dict[str, set[str]]:
    names = registry.cpts["nom"].to_dict()
    out: dict[str, set[str]] = {}
    for cpts_id, code in registry.membership[["cpts_id", "code"]].itertuples(index=False):
        out.setdefault(names[cpts_id], set()).add(code)
    return out


# ------------------------------------------------------------------ 2: Windows-1252, linear
def test_item2_names_only_cp1252_registry_reads_as_utf8(read, demo_registry, tmp_path):
    from couverture._input import decode_text

    demo = pd.read_csv(demo_registry, dtype=str)
    demo = demo[demo["departement"].isin(["35", "29", "2A", "974"])]
    frame = pd.DataFrame(
        {
            "Nom de la CPTS": demo["nom_cpts"],
            "Stade": demo["stade"],
            "Commune": demo["nom_commune"],
            "Département": demo["departement"],
        }
    )
    text = frame.to_csv(sep=";", index=False, lineterminator="\r\n")
    (tmp_path / "utf8.csv").write_bytes(text.encode("utf-8"))
    (tmp_path / "cp1252.csv").write_bytes(text.encode("cp1252"))
    decoded, notes = decode_text("cp1252.csv", text.encode("cp1252"))
    assert decoded == text and notes == []  # every line one encoding: nothing to report
    one, other = read(tmp_path / "utf8.csv"), read(tmp_path / "cp1252.csv")
    assert members(one) == members(other) and len(members(one)) > 20
    assert "Châteaulin" in set(demo["nom_commune"])  # accents on many lines
    # the registry reader's decoder is the door's (kept importable under its old name)
    from couverture._registry_read import _decode

    assert _decode(Path("x.csv"), text.encode("cp1252")) == (text, [])


# ------------------------------------------------------------------ 3: a layer names its CPTS
@pytest.mark.parametrize(
    "column", ["nom", "NOM", "libelle", "Nom de la CPTS", "nom_cpts", "raison_sociale", "name"]
)
def test_item3_layer_cpts_column_names(column, read, geometries, tmp_path, caplog):
    layer = gpd.GeoDataFrame(
        {column: ["CPTS Rennes", "CPTS Vitré"], "statut": ["ACI signé", "Projet de santé validé"]},
        geometry=perimeters(geometries, RENNES, VITRE),
        crs="EPSG:4326",
    )
    layer.to_file(tmp_path / "perimetres.geojson", driver="GeoJSON")
    with caplog.at_level(logging.INFO, logger="couverture"):
        registry = read(tmp_path / "perimetres.geojson")
    assert members(registry) == {"CPTS Rennes": set(RENNES), "CPTS Vitré": set(VITRE)}
    stages = dict(zip(registry.cpts["nom"], registry.cpts["stade"], strict=True))
    assert stages == {"CPTS Rennes": "aci", "CPTS Vitré": "projet_sante"}
    assert f"nom de CPTS : colonne « {column} »" in caplog.text
    assert "stade : colonne « statut »" in caplog.text


def test_item3_shapefile_cut_names_and_etat(read, geometries, tmp_path, caplog):
    layer = gpd.GeoDataFrame(
        {"libelle_cp": ["CPTS Rennes", "CPTS Vitré"], "ETAT": ["LI validée", "ACI"]},
        geometry=perimeters(geometries, RENNES, VITRE),
        crs="EPSG:4326",
    ).to_crs(settings.CRS_METRIC)
    layer.to_file(tmp_path / "perimetres.shp")
    with caplog.at_level(logging.INFO, logger="couverture"):
        registry = read(tmp_path / "perimetres.shp")
    stages = dict(zip(registry.cpts["nom"], registry.cpts["stade"], strict=True))
    assert stages == {"CPTS Rennes": "lettre_intention", "CPTS Vitré": "aci"}
    assert "colonne « libelle_cp »" in caplog.text


# ------------------------------------------------------------------ 9: porteur positions
def _point(geometries, code: str) -> tuple[float, float]:
    """(lon, lat) of a point well inside a real commune."""
    p = geometries.loc[code].geometry.representative_point()
    return round(p.x, 4), round(p.y, 4)


def _within(geometries, frame: pd.DataFrame, tolerance_m: float = 3000) -> None:
    for _, row in frame.iterrows():
        point = gpd.GeoSeries([shapely.Point(row["lon"], row["lat"])], crs=4326).to_crs(2154)
        shape = gpd.GeoSeries([geometries.loc[row["code_commune"]].geometry], crs=4326)
        gap = float(shape.to_crs(2154).distance(point.iloc[0]).iloc[0])
        assert gap <= tolerance_m, (row["nom"], gap)


def test_item9_swapped_and_far_positions_checked_against_commune(geometries, tmp_path, caplog):
    from couverture.porteurs import read_porteurs

    vlon, vlat = _point(geometries, "35360")
    rows = [
        "nom,categorie,code_commune,lat,lon",
        f"MSP Vitré,603,35360,{vlat},{vlon}",
        f"MSP Vitré inversée,603,35360,{vlon},{vlat}",  # lat/lon swapped: near Somalia
        f"MSP Fougères,603,{FOUGERES},43.2965,5.3698",  # Marseille: no reading fits
    ]
    (tmp_path / "porteurs.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="couverture"):
        frame = read_porteurs(tmp_path / "porteurs.csv")
    _within(geometries, frame)
    assert "ligne 3 « MSP Vitré inversée »" in caplog.text
    assert "latitude et longitude inversées" in caplog.text
    assert "ligne 4 « MSP Fougères »" in caplog.text and "placé dans sa commune" in caplog.text
    assert "ligne 2" not in caplog.text


def test_item9_decimal_commas_and_degrees_in_xy(geometries, tmp_path, caplog):
    from couverture.porteurs import read_porteurs

    lon, lat = _point(geometries, "35360")
    commas = f"{lat:.2f},{lon:.2f}".replace(".", ",")  # 48,12,-1,21 in a comma CSV
    (tmp_path / "virgules.csv").write_text(
        f"nom,categorie,code_commune,lat,lon\nMSP Vitré,603,35360,{commas}\n", encoding="utf-8"
    )
    (tmp_path / "xy.csv").write_text(
        f"nom;categorie;code_commune;x;y\nMSP Vitré;603;35360;{lon};{lat}\n", encoding="utf-8"
    )
    with caplog.at_level(logging.WARNING, logger="couverture"):
        for name in ("virgules.csv", "xy.csv"):
            frame = read_porteurs(tmp_path / name)
            _within(geometries, frame)
    assert "virgules décimales" in caplog.text and "x/y en degrés" in caplog.text


def test_item9_drom_record_declared_lambert93(geometries, tmp_path, caplog):
    from couverture.porteurs import read_porteurs

    text = FINESS.read_text(encoding="utf-8").replace(",UTM_S40;", ",LAMBERT_93;")
    assert "UTM_S40" not in text
    (tmp_path / "finess.csv").write_text(text, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="couverture"):
        frame = read_porteurs(tmp_path / "finess.csv")
    reunion = frame[frame["code_commune"] == "97411"]
    assert len(reunion) == 1
    _within(geometries, frame.dropna(subset=["lon"]))
    assert "ligne 14" in caplog.text and "EPSG:2975" in caplog.text


# ------------------------------------------------------------------ 10: dropped perimeters
def test_item10_each_dropped_feature_named_swapped_feature_corrected(
    read, geometries, tmp_path, caplog
):
    rennes, vitre = perimeters(geometries, RENNES, VITRE)
    at_sea = shapely.box(-2.9, 49.2, -2.8, 49.25)  # the Channel, off Saint-Malo
    fougeres = geometries.loc[FOUGERES].geometry.representative_point()
    sliver = gpd.GeoSeries([fougeres], crs=4326).to_crs(2154).buffer(50, cap_style="square")
    layer = gpd.GeoDataFrame(
        {"nom_cpts": ["CPTS Rennes", "CPTS Vitré", "CPTS du Large", "CPTS Miette"]},
        geometry=[rennes, swapped(vitre), at_sea, sliver.to_crs(4326).iloc[0]],
        crs="EPSG:4326",
    )
    layer.to_file(tmp_path / "perimetres.geojson", driver="GeoJSON")
    with caplog.at_level(logging.WARNING, logger="couverture"):
        registry = read(tmp_path / "perimetres.geojson", default_stage="aci")
    assert members(registry) == {"CPTS Rennes": set(RENNES), "CPTS Vitré": set(VITRE)}
    actions = "\n".join(registry.anomalies["action"])
    assert "CPTS Vitré : longitude et latitude inversées" in actions
    assert "CPTS du Large ne recouvre aucune commune (en mer" in actions
    assert "CPTS Miette trop petite ou décalée (1,0 ha)" in actions and FOUGERES in actions
    assert "ligne 4 : CPTS du Large" in caplog.text and "ligne 5 : CPTS Miette" in caplog.text


def test_item10_whole_layer_swapped_and_lambert93_without_crs(read, geometries, tmp_path, caplog):
    rennes, vitre = perimeters(geometries, RENNES, VITRE)
    expected = {"CPTS Rennes": set(RENNES), "CPTS Vitré": set(VITRE)}
    names = ["CPTS Rennes", "CPTS Vitré"]
    layer = gpd.GeoDataFrame({"nom": names}, geometry=[swapped(rennes), swapped(vitre)], crs=4326)
    layer.to_file(tmp_path / "inverse.geojson", driver="GeoJSON")
    with caplog.at_level(logging.WARNING, logger="couverture"):
        assert members(read(tmp_path / "inverse.geojson", default_stage="aci")) == expected
    assert "toute la couche : longitude et latitude inversées" in caplog.text
    # Lambert 93 metres in a GeoJSON that declares no CRS (read as degrees by GDAL)
    metres = gpd.GeoSeries([rennes, vitre], crs=4326).to_crs(2154)
    features = ",".join(
        f'{{"type":"Feature","properties":{{"nom":"{n}"}},"geometry":{shapely.to_geojson(g)}}}'
        for n, g in zip(names, metres, strict=True)
    )
    (tmp_path / "l93.geojson").write_text(
        f'{{"type":"FeatureCollection","features":[{features}]}}', encoding="utf-8"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="couverture"):
        assert members(read(tmp_path / "l93.geojson", default_stage="aci")) == expected
    assert "Lambert 93" in caplog.text and "lues en Lambert 93" in caplog.text


# ------------------------------------------------------------------ 11: one door, no traceback
def test_item11_porteurs_fifo_and_device_refused_at_once(demo_registry, tmp_path):
    fifo = tmp_path / "porteurs.csv"
    os.mkfifo(fifo)  # nobody writes: opening it would wait forever
    args = ["suggestions", "--registre", str(demo_registry), "--departement", "35"]
    for source, word in ((str(fifo), "tube"), ("/dev/zero", "spécial")):
        done = run(*args, "--porteurs", source, timeout=120)
        assert done.returncode == 2, done.stderr
        assert word in done.stderr and "Traceback" not in done.stderr
        assert "MemoryError" not in done.stderr


def test_item11_plan_through_the_door(tmp_path):
    from couverture.plan import read_plan

    fifo = tmp_path / "plan.xlsx"
    os.mkfifo(fifo)
    with pytest.raises(PlanError, match="tube ou socket"):
        read_plan(fifo)
    with pytest.raises(PlanError, match="c'est un dossier"):
        read_plan(tmp_path)


def test_item11_bounded_size_and_workbook(read, tmp_path, monkeypatch):
    import openpyxl

    from couverture import _input
    from couverture._input import InputError, read_input

    big = tmp_path / "gros.csv"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(InputError, match="trop volumineux"):
        read_input(big, what="annuaire", max_bytes=4096)
    assert read_input(big, what="annuaire", max_bytes=5000) == b"x" * 5000
    book = openpyxl.Workbook()
    book.active.append(["cpts_id", "nom_cpts", "stade", "code_insee"])
    for i in range(2000):
        book.active.append([f"C{i}", "CPTS Rennes", "ACI", "35238"])
    book.save(tmp_path / "r.xlsx")
    monkeypatch.setattr(_input, "limits", lambda: {"taille": 1 << 30, "classeur": 50_000})
    with pytest.raises(RegistryError, match="trop volumineux une fois décompressé"):
        read(tmp_path / "r.xlsx")


_FULL_DISK = """
import errno, io, sys
from couverture import cli

FULL = sys.argv[1]
real_open = io.open


class _Full(io.RawIOBase):
    # a file on a full disk: every write fails (what is buffered fails at close)
    def __init__(self): self.at = 0
    def writable(self): return True
    def readable(self): return True
    def seekable(self): return True
    def readinto(self, b): return 0
    def tell(self): return self.at
    def seek(self, at, whence=0): return self.at
    def write(self, b): raise OSError(errno.ENOSPC, "No space left on device")


def full_open(file, mode="r", *args, **kwargs):
    if str(file).startswith(FULL) and any(c in mode for c in "wax+"):
        real_open(file, "wb").close()
        raw = io.BufferedRandom(_Full())
        return raw if "b" in mode else io.TextIOWrapper(raw, encoding="utf-8")
    return real_open(file, mode, *args, **kwargs)


io.open = full_open
import builtins
builtins.open = full_open
sys.argv = ["couverture", *sys.argv[2:]]
cli.run()
"""


def test_item11_full_disk_writing_xlsx_and_geopackage(demo_registry, tmp_path):
    out = tmp_path / "plein"
    out.mkdir()
    script = tmp_path / "full.py"
    script.write_text(_FULL_DISK, encoding="utf-8")
    args = ["zones-blanches", "--registre", str(demo_registry), "--departement", "35"]
    done = subprocess.run(
        [sys.executable, str(script), str(out), *args, "--format", "xlsx", "--sortie",
         str(out / "z.xlsx")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "z.xlsx" in done.stderr and "(disque plein)" in done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
    # GDAL writes on its own: a file size limit makes its writes fail
    import resource
    import signal

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    done = run(*args, "--format", "gpkg", "--sortie", str(out / "z.gpkg"), preexec_fn=limited)
    assert done.returncode == 2, done.stderr
    assert "erreur : lecture ou écriture impossible" in done.stderr and "z.gpkg" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in out.iterdir()) == []  # nothing half-written left


# ------------------------------------------------------------------ 12: small things
def test_item12_finess_utf8_with_one_cp1252_line(tmp_path, caplog):
    from couverture.porteurs import read_porteurs

    lines = FINESS.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"DU PAYS DE VITRE;", "DU PAYS DE VITRÉ;".encode())
    lines[2] = lines[2].replace(
        b"D'ARGENTRE-DU-PLESSIS;", "D'ARGENTRÉ-DU-PLESSIS;".encode("cp1252")
    )
    (tmp_path / "finess.csv").write_bytes(b"\n".join(lines))
    with caplog.at_level(logging.WARNING, logger="couverture"):
        names = read_porteurs(tmp_path / "finess.csv").set_index("finess")["nom"]
    assert names["350099991"].endswith("DU PAYS DE VITRÉ")
    assert names["350099992"] == "CENTRE DE SANTE D'ARGENTRÉ-DU-PLESSIS"
    assert "Windows-1252" in caplog.text and "ligne(s) 3)" in caplog.text


def test_item12_stale_temporaries_of_a_killed_write_removed(tmp_path):
    from couverture._output import atomic_write_text

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".tmp-{dead.pid}-k3q9x_1z-plan.xlsx"  # kill -9 during the save
        running = tmp_path / f".tmp-{alive.pid}-a8b7c6d5-plan.xlsx"  # another run writing
        other = tmp_path / f".tmp-{dead.pid}-k3q9x_1z-autre.xlsx"  # another file's
        older = tmp_path / ".tmp-3x8_q2ab-plan.xlsx"  # named before the pid was in the name
        recent = tmp_path / ".tmp-7hq2_x9c-plan.xlsx"
        for p in (stale, running, other, older, recent):
            p.write_bytes(b"PK")
        os.utime(older, (1e9, 1e9))  # 2001
        atomic_write_text(tmp_path / "plan.xlsx", "x")
        assert not stale.exists() and running.exists() and other.exists()
        assert not older.exists() and recent.exists()  # a recent one may be written still
        assert (tmp_path / "plan.xlsx").read_text(encoding="utf-8") == "x"
    finally:
        alive.kill()
        alive.wait()


def test_item12_library_warnings_kept_off_the_terminal(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from couverture import cli

        def main(argv=None):  # a command drawing a map too small for its title
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig = plt.figure(figsize=(1, 1))
            fig.add_subplot().set_title("titre\\n" * 12)
            fig.tight_layout()
            return 0

        cli.main = main
        cli.run()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Tight layout" not in done.stderr and "UserWarning" not in done.stderr


def test_item11_plan_used_range_is_bounded(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "zones"
    book.active.append(["zone_id", "departement"])
    book.active["XFD1048576"] = " "
    book.save(tmp_path / "plan.xlsx")
    script = (
        "import sys\nfrom couverture.plan import read_plan\nfrom couverture._errors import "
        "PlanError\ntry:\n    read_plan(sys.argv[1])\nexcept PlanError as e:\n    print(e)\n"
    )
    # the timeout only guards against the hang (16,384 cells × a million rows)
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "plan.xlsx")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # answered (not hung): the missing columns of the legacy sheet are named
    assert "colonne absente" in done.stdout and "« zones »" in done.stdout


def test_item10_a_layer_covering_nothing_says_why(read, tmp_path):
    layer = gpd.GeoDataFrame(
        {"nom": ["CPTS du Large", "CPTS des Îles"]},
        geometry=[shapely.box(-2.9, 49.2, -2.8, 49.25), shapely.box(-4.0, 46.0, -3.9, 46.1)],
        crs="EPSG:4326",
    )
    layer.to_file(tmp_path / "mer.geojson", driver="GeoJSON")
    with pytest.raises(RegistryError) as excinfo:
        read(tmp_path / "mer.geojson", default_stage="aci")
    text = str(excinfo.value)
    assert "aucune entité ne rattache de commune" in text and "abandonnées" not in text
    assert "ligne 2 : CPTS du Large ne recouvre aucune commune (en mer" in text
    assert "ligne 3 : CPTS des Îles ne recouvre aucune commune" in text


def test_item3_geopackage_layer_found_by_its_nom_column(read, geometries, tmp_path, caplog):
    path = tmp_path / "ars.gpkg"
    seats = geometries.loc[["35238", "35360"]].representative_point()
    gpd.GeoDataFrame({"nom": ["Rennes", "Vitré"]}, geometry=list(seats), crs=4326).to_file(
        path, layer="sieges", driver="GPKG"
    )
    gpd.GeoDataFrame(
        {"nom": ["CPTS Rennes", "CPTS Vitré"], "etat": ["ACI", "Lettre d'intention"]},
        geometry=perimeters(geometries, RENNES, VITRE),
        crs=4326,
    ).to_file(path, layer="perimetres_cpts", driver="GPKG")
    with caplog.at_level(logging.INFO, logger="couverture"):
        registry = read(path)
    assert members(registry) == {"CPTS Rennes": set(RENNES), "CPTS Vitré": set(VITRE)}
    assert "couche « perimetres_cpts » lue" in caplog.text and "colonne « etat »" in caplog.text
