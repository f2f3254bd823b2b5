"""One registry analysed against the store: the entry point of the CLI and notebooks.

:class:`Analysis` reads a registry once, then computes (lazily, cached in memory and in the
store by the file's digest) unit coverage, rates, zones blanches, overlaps and CPTS sizes.

Examples
--------
>>> import couverture
>>> a = couverture.analyse("data/raw/registre_demo.csv")  # doctest: +SKIP
>>> a.rates(niveau="departement").head()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couverture import store
from couverture._errors import ArgumentError, RegistryError
from couverture._validate import check_departements

if TYPE_CHECKING:
    import duckdb
    import geopandas as gpd
    import pandas as pd

    from couverture.registry import Registry

log = logging.getLogger(__name__)

DEMO_LABEL = "registre fictif"


def file_digest(path: Path, *extra: str) -> str:
    """Return the sha256 of a file's bytes and of extra options (the cache key)."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except FileNotFoundError as exc:
        raise RegistryError(path, [(None, "", "fichier introuvable")]) from exc
    except (IsADirectoryError, PermissionError) as exc:
        raise RegistryError(path, [(None, "", f"fichier illisible ({exc.strerror})")]) from exc
    for e in extra:
        h.update(b"\0" + e.encode())
    return h.hexdigest()


def code_version() -> str:
    """Digest of the package's code and configuration: cached results computed by another
    version of couverture (or with other parameters) are never served."""
    from couverture import _config

    # the configuration is read from settings.CONFIG_DIR, wherever it points
    return hashlib.sha256(f"{_code_digest()}:{_config.digest()}".encode()).hexdigest()[:16]


@cache
def _code_digest() -> str:
    from couverture.settings import PACKAGE_DIR

    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.suffix in (".py", ".csv", ".toml", ".js", ".css") and path.is_file():
            h.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def registry_date(path: Path, cpts: pd.DataFrame) -> str:
    """Return the date a registry describes (ISO): its latest stage date when it has date
    columns, else a date in its file name (``cpts_paca_2026-01.csv``), else its modification
    date."""
    import datetime as dt
    import re

    dates = [
        str(v)[:10]
        for col in cpts.columns
        if col.startswith("date_")
        for v in cpts[col].dropna()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", str(v))
    ]
    if dates:
        return max(dates)
    named = re.search(r"(20\d{2})[-_]?(0[1-9]|1[0-2])(?:[-_]?([0-3]\d))?", path.stem)
    if named:
        return "-".join(p for p in named.groups() if p)
    return dt.date.fromtimestamp(path.stat().st_mtime).isoformat()


def parse_departements(value: str | None) -> tuple[str, ...] | None:
    """Parse ``--departement`` (``35``, ``2A,2B``, ``1`` → ``01``) into COG codes."""
    if value is None or not value.strip():
        return None
    out = []
    for part in value.replace(" ", ",").split(","):
        if not part:
            continue
        code = part.strip().upper()
        if code.isdigit() and len(code) == 1:
            code = "0" + code
        out.append(code)
    # one spelling per set of départements: "35,13" and "13,35" are the same périmètre
    return tuple(sorted(set(out)))


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelno, record.getMessage()))


@contextlib.contextmanager
def recording_log(logger: logging.Logger) -> Iterator[list[tuple[int, str]]]:
    """Collect ``(level, message)`` of what ``logger`` emits at INFO or above in the block,
    so that a cached result can replay the warnings and summaries that came with it."""
    recorder = _Recorder()
    logger.addHandler(recorder)
    try:
        yield recorder.records
    finally:
        logger.removeHandler(recorder)


@dataclass
class Analysis:
    """A registry analysed against the store.

    Parameters
    ----------
    registry_path
        The CPTS registry (CSV or XLSX).
    default_stage
        Stage given to CPTS whose stage is missing (``--stade-par-defaut``).
    departements
        Restrict every result to these départements (COG codes).
    shared_threshold
        Population from which a unit claimed by several CPTS is a commune partagée.
    """

    registry_path: Path
    default_stage: str | None = None
    departements: tuple[str, ...] | None = None
    shared_threshold: int | None = None
    store_path: Path | None = None
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    _owns_con: bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        from couverture._config import sources

        self.registry_path = Path(self.registry_path)
        if self.shared_threshold is None:
            self.shared_threshold = int(sources()["analyse"]["seuil_commune_partagee"])
        if self.default_stage is not None:
            from couverture.registry import normalise_stage

            stage = normalise_stage(self.default_stage)
            if not stage or stage == "exclu":
                raise ArgumentError(
                    f"--stade-par-defaut : stade inconnu « {self.default_stage} » (attendu : "
                    "lettre_intention, projet_sante ou aci)"
                )
            self.default_stage = stage
        # the registry's own fingerprint (reports, history) and the cache key, which also
        # changes with the options and with the code that computes the results
        self.registry_digest = file_digest(self.registry_path)
        self.digest = file_digest(self.registry_path, self.default_stage or "", code_version())

    # ---------------------------------------------------------------- store
    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open store (opened on first use, read-write so results can be cached)."""
        if self._con is None:
            self._con = store.connect(self.store_path)
        return self._con

    def close(self) -> None:
        """Close the store (unless this analysis borrows another's connection)."""
        if self._con is not None and self._owns_con:
            self._con.close()
        self._con = None

    def national(self) -> Analysis:
        """The same registry for all of France, sharing this analysis's store connection and
        parsed registry (neighbouring CPTS and proposals cross département borders)."""
        if self.departements is None:
            return self
        full = dataclasses.replace(self, departements=None, _con=self.con, _owns_con=False)
        full.__dict__["registry"] = self.registry  # cached_property storage
        return full

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def meta(self) -> dict[str, Any]:
        """Vintages (COG, population) and registry labels stated with every output."""
        m: dict[str, Any] = store.meta(self.con)
        m["registre"] = self.registry_path.name
        m["fictif"] = self.registry.fictif
        m["libelle_registre"] = DEMO_LABEL if self.registry.fictif else self.registry_path.name
        m["date_registre"] = registry_date(self.registry_path, self.registry.cpts)
        return m

    def cached(self, name: str, compute: Any) -> pd.DataFrame:
        """Return frame ``name`` from the store's cache for this registry, else compute and
        cache it (``compute`` takes no argument; ``name`` must include every option that
        changes the result)."""
        frame = store.cache_get(self.con, name, self.digest)
        if frame is None:
            frame = compute()
            store.cache_put(self.con, name, self.digest, frame)
        return frame

    # ---------------------------------------------------------------- registry
    @cached_property
    def registry(self) -> Registry:
        """The parsed registry (from the store's cache when this file was seen before)."""
        import pandas as pd

        from couverture.registry import Registry, read_registry

        cpts = store.cache_get(self.con, "registry_cpts", self.digest)
        members = store.cache_get(self.con, "registry_membership", self.digest)
        anomalies = store.cache_get(self.con, "registry_anomalies", self.digest)
        messages = store.cache_get(self.con, "registry_log", self.digest)
        if cpts is not None and members is not None and anomalies is not None:
            # the same warnings as when the file was read, in the same words
            if messages is not None:
                for level, message in zip(messages["niveau"], messages["message"], strict=True):
                    logging.getLogger("couverture.registry").log(int(level), "%s", message)
            fictif = bool(cpts["_fictif"].iloc[0]) if len(cpts) else False
            return Registry(
                path=self.registry_path,
                digest=file_digest(self.registry_path, self.default_stage or ""),
                cpts=cpts.drop(columns="_fictif").set_index("cpts_id"),
                membership=members,
                anomalies=anomalies,
                fictif=fictif,
            )
        units = self.con.execute(
            "SELECT code, nom, type, commune, departement FROM units"
        ).fetchdf()
        old_codes = self.con.execute("SELECT * FROM old_codes").fetchdf()
        with recording_log(logging.getLogger("couverture.registry")) as messages:
            reg = read_registry(
                self.registry_path,
                units=units,
                old_codes=old_codes,
                default_stage=self.default_stage,
            )
        cached_cpts = reg.cpts.reset_index().assign(_fictif=reg.fictif)
        store.cache_put(self.con, "registry_cpts", self.digest, cached_cpts)
        store.cache_put(self.con, "registry_membership", self.digest, reg.membership)
        store.cache_put(self.con, "registry_anomalies", self.digest, pd.DataFrame(reg.anomalies))
        store.cache_put(
            self.con,
            "registry_log",
            self.digest,
            pd.DataFrame(messages, columns=["niveau", "message"]),
        )
        return reg

    # ---------------------------------------------------------------- results
    def _filter(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.departements is None:
            return frame
        return frame[frame["departement"].isin(self.departements)].reset_index(drop=True)

    @cached_property
    def _all_units(self) -> pd.DataFrame:
        from couverture.coverage import unit_coverage

        return self.cached(
            "units",
            lambda: unit_coverage(
                self.con, cpts=self.registry.cpts, membership=self.registry.membership
            ),
        )

    def check_departements(self) -> None:
        """Raise :class:`ArgumentError` for a ``departements`` code that is not in the store."""
        if self.departements is None:
            return
        known = set(
            self.con.execute("SELECT code FROM territories WHERE niveau = 'departement'").fetchdf()[
                "code"
            ]
        )
        check_departements(self.departements, known)

    def units(self) -> pd.DataFrame:
        """Coverage per unit (see :func:`couverture.coverage.unit_coverage`)."""
        self.check_departements()
        return self._filter(self._all_units)

    def geometries(
        self, *, departements: tuple[str, ...] | None = None, national: bool = False
    ) -> gpd.GeoDataFrame:
        """Unit geometries (WGS84) indexed by unit code, units without geometry left out.

        Parameters
        ----------
        departements
            Départements to load (default: those of the analysis).
        national
            Load all of France, whatever the analysis's départements.
        """
        self.check_departements()
        deps = departements if departements is not None else self.departements
        return store.unit_geometries(self.con, departements=None if national else deps)

    def unit_table(self) -> pd.DataFrame:
        """Reference attributes of every unit of France (no geometry): ``code``, ``nom``,
        ``type``, ``commune``, ``departement``, ``region``, ``epci``, ``population``,
        ``bassin_vie``, ``nom_bassin_vie``, ``superficie_km2``, ``x``, ``y``… ordered by code."""
        return self.con.execute("SELECT * EXCLUDE (geometry) FROM units ORDER BY code").fetchdf()

    def adjacency(self) -> pd.DataFrame:
        """Rook adjacency of all units: ``code_a``, ``code_b`` (both directions), ``frontiere_m``
        (length of the shared border in metres)."""
        return self.con.execute("SELECT * FROM adjacency ORDER BY code_a, code_b").fetchdf()

    def territories(self, niveau: str) -> pd.DataFrame:
        """Names of the territories of a level (``region``, ``departement``, ``epci``):
        ``code``, ``nom`` and the other columns of the store's ``territories`` table."""
        return self.con.execute(
            "SELECT * FROM territories WHERE niveau = ? ORDER BY code", [niveau]
        ).fetchdf()

    def zone_units(self) -> pd.DataFrame:
        """Members of the zones blanches as a long table ``zone_id``, ``code`` (one row per
        unit, in the order of :meth:`zones`)."""
        import pandas as pd

        zones = self.zones()
        codes = zones["communes"].str.split()
        return pd.DataFrame(
            {
                "zone_id": zones["zone_id"].repeat(codes.str.len()).to_numpy(),
                "code": [c for row in codes for c in row],
            }
        )

    def zone_geometries(self) -> gpd.GeoSeries:
        """One geometry per zone blanche (the union of its units), indexed by ``zone_id``."""
        return self.member_geometries(self.zone_units(), key="zone_id")

    def member_geometries(self, members: pd.DataFrame, *, key: str) -> gpd.GeoSeries:
        """Union of the unit geometries of each group of a long table (``key``, ``code``),
        indexed by ``key`` in the order of first appearance; ``None`` for a group without any
        unit geometry."""
        from couverture.zones import group_geometries

        deps = tuple(sorted(set(c[:3] if c.startswith("97") else c[:2] for c in members["code"])))
        return group_geometries(members, self.geometries(departements=deps), key=key)

    def rates(self, *, niveau: str = "departement") -> pd.DataFrame:
        """Coverage rates by stage at a territorial level (see ``coverage_rates``)."""
        from couverture.coverage import coverage_rates

        rates = coverage_rates(self.con, self.units(), niveau=niveau)
        if self.departements is not None and niveau in ("france", "region"):
            # figures of the selected départements only: say so where the name is read
            rates["nom"] = rates["nom"] + " (périmètre : " + ", ".join(self.departements) + ")"
        return rates

    def zones(self) -> pd.DataFrame:
        """Zones blanches (see :func:`couverture.zones.white_zones`)."""
        from couverture.zones import white_zones

        self.check_departements()
        return self._filter(self.cached("zones", lambda: white_zones(self.con, self._all_units)))

    def overlaps(self) -> pd.DataFrame:
        """Chevauchements and communes partagées (see :func:`couverture.zones.overlaps`)."""
        from couverture.zones import overlaps

        assert self.shared_threshold is not None
        return overlaps(self.units(), shared_threshold=self.shared_threshold)

    def cpts(self) -> pd.DataFrame:
        """One row per CPTS: population, taille, funding (see ``coverage.cpts_table``)."""
        from couverture.coverage import cpts_table

        table = self.cached(
            "cpts",
            lambda: cpts_table(
                self._all_units, cpts=self.registry.cpts, membership=self.registry.membership
            ).reset_index(),
        ).set_index("cpts_id")
        if self.departements is None:
            return table
        return table[table["departement"].isin(self.departements)]


def analyse(
    registry: Path | str,
    *,
    default_stage: str | None = None,
    departements: str | tuple[str, ...] | None = None,
    shared_threshold: int | None = None,
) -> Analysis:
    """Open an :class:`Analysis` of a registry (the store must have been built).

    Parameters
    ----------
    registry
        Path of the CPTS registry (CSV or XLSX).
    default_stage
        Stage for CPTS without one (wording or code, e.g. ``"aci"``).
    departements
        ``"35"``, ``"2A,2B"`` or a tuple of codes; ``None`` for all of France.
    shared_threshold
        Population from which a multi-claimed unit is a commune partagée (default 50,000).
    """
    deps = parse_departements(departements) if isinstance(departements, str) else departements
    return Analysis(
        Path(registry),
        default_stage=default_stage,
        departements=deps,
        shared_threshold=shared_threshold,
    )
