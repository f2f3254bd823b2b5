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
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from couverture import _cache, _format, store
from couverture._config import sources
from couverture._errors import ArgumentError
from couverture._graph import UnitGraph
from couverture._registry_date import month_end, resolve
from couverture._validate import check_departements
from couverture.coverage import coverage_rates, cpts_table, unit_coverage
from couverture.registry import Registry, is_polygon_layer, normalise_stage, read_registry
from couverture.zones import group_geometries, members, overlaps, white_zones, zone_names

if TYPE_CHECKING:
    import duckdb
    import geopandas as gpd
    import pandas as pd

    from couverture._graph import UnitGraph
    from couverture._registry_date import RegistryDate
    from couverture.registry import Registry

log = logging.getLogger(__name__)

DEMO_LABEL = "registre fictif"
#: logger whose messages a cached registry replays
REGISTRY_LOGGER = "couverture.registry"


def registry_date(registry: Registry, *, given: str | None = None) -> RegistryDate:
    """Return the date a registry describes, and where it comes from.

    The date it states (a ``date_extraction``/``mise à jour`` column or a title row above its
    header), else ``given`` (``--date``), else a date in its file name
    (``cpts_paca_2026-01.csv``), else its modification date. Never a stage date: a stage date
    after the registry's date is an anomaly (see :meth:`Analysis.date_anomalies`).
    """
    stated = (registry.date, registry.date_detail) if registry.date else None
    return resolve(registry.path, stated=stated, given=given)


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
    """Collect ``(level, message)`` of what ``logger`` emits at INFO or above in the block.

    So that a cached result can replay the warnings and summaries that came with it.
    """
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
    date
        The registry's date when it states none (``--date``, ISO or JJ/MM/AAAA).
    """

    registry_path: Path
    default_stage: str | None = None
    departements: tuple[str, ...] | None = None
    shared_threshold: int | None = None
    date: str | None = None
    store_path: Path | None = None
    #: where ``departements`` comes from: ``"option"`` (given), ``"registre"`` (the extent of
    #: a regional registry, see :meth:`limit_to_registry`), ``None`` (all of France)
    extent_source: str | None = None
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    _graph: UnitGraph | None = field(default=None, repr=False)
    # the analysis whose store connection, parsed registry, unit coverage and graph this one
    # uses (see `shared` and `national`); None for an analysis of its own
    _origin: Analysis | None = field(default=None, repr=False)
    # what reading the registry logged (origin), replayed to the copies (see `shared`)
    _registry_log: list[tuple[int, str]] = field(default_factory=list, repr=False)
    # a copy has had the registry's warnings: logged by a read it caused, or replayed
    _told: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.registry_path = Path(self.registry_path)
        if self.shared_threshold is None:
            self.shared_threshold = int(sources()["analyse"]["seuil_commune_partagee"])
        if self.default_stage is not None:
            stage = normalise_stage(self.default_stage)
            if not stage or stage == "exclu":
                raise ArgumentError(
                    f"--stade-par-defaut : stade inconnu « {self.default_stage} » (attendu : "
                    "lettre_intention, projet_sante ou aci)"
                )
            self.default_stage = stage
        if self._origin is None:
            # the registry's own fingerprint (reports, history) and the cache key, which also
            # changes with the code, the configuration and the store that compute the results
            self._fingerprint(_cache.digest(self.registry_path))

    def _fingerprint(self, registry_digest: str) -> None:
        self._registry_digest = registry_digest
        self._digest = _cache.registry_key(
            registry_digest, name=self.registry_path.name, store_path=self.store_path
        )

    @property
    def registry_digest(self) -> str:
        """The sha256 of the registry's bytes: those read, once the registry is parsed."""
        return self._origin.registry_digest if self._origin else self._registry_digest

    @property
    def digest(self) -> str:
        """The cache key of this registry's results (see :func:`couverture._cache.registry_key`)."""
        return self._origin.digest if self._origin else self._digest

    # ---------------------------------------------------------------- store
    def _connection(self) -> duckdb.DuckDBPyConnection:
        """Return the store, opened read-only on first use (never blocks another process)."""
        if self._origin is not None:
            return self._origin._connection()  # reopened there if it was closed
        if self._con is None:
            self._con = store.connect(self.store_path)
        return self._con

    def close(self) -> None:
        """Close the store connection (it reopens on next use); a copy leaves its origin's open."""
        prefetched = self.__dict__.pop("_graph_prefetch", None)
        if prefetched is not None:
            prefetched.exception()  # its cursor done before the connection goes
        if self._con is not None:  # a copy has none: it uses its origin's
            self._con.close()
        self._con = None

    def _copy(self, **changes: Any) -> Analysis:
        origin = self._origin or self
        return dataclasses.replace(origin, _con=None, _graph=None, _origin=origin, **changes)

    def national(self) -> Analysis:
        """Return the same registry for all of France.

        Sharing this analysis's store connection, parsed registry, unit coverage and graph
        (neighbouring CPTS and proposals cross département borders). An internal view of the
        same analysis: it does not tell the registry's warnings again.
        """
        if self.departements is None:
            return self
        self.registry  # noqa: B018  (read, and told, by this analysis first)
        return self._copy(departements=None, _told=True)

    def shared(self) -> Analysis:
        """Return another analysis of the same registry and options, sharing this one's work.

        The store connection, the parsed registry, the unit coverage and the graph are the
        origin's (computed on first use by any copy); closing a copy leaves them open, closing
        the origin closes the connection, which any of them reopens when next used. A copy
        behaves as a fresh analysis whose results come from the cache: when it first needs the
        registry, the warnings of its reading are told again in the same words (unless the
        reading happens then, on its behalf, and tells them itself). The CLI answers the other
        first-sight commands with copies (one registry read per process). For one thread:
        copies share one DuckDB connection and its temporary views.
        """
        return self._copy(_told=False)

    def _tell(self, messages: Iterable[tuple[int, str]]) -> None:
        for level, message in messages:
            logging.getLogger(REGISTRY_LOGGER).log(level, "%s", message)

    def _origin_registry(self) -> Registry:
        """Return the origin's registry, its warnings told once to this copy."""
        assert self._origin is not None
        if not self._told:
            self._told = True
            if "registry" in self._origin.__dict__:
                self._tell(self._origin._registry_log)
        return self._origin.registry

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def meta(self) -> dict[str, Any]:
        """Vintages (COG, population) and registry labels stated with every output."""
        m: dict[str, Any] = store.meta(self._connection())
        m["registre"] = self.registry_path.name
        m["fictif"] = self.registry.fictif
        m["libelle_registre"] = DEMO_LABEL if self.registry.fictif else self.registry_path.name
        when = self.registry_date
        m["date_registre"] = when.iso
        m["date_registre_source"] = when.source
        m["date_registre_texte"] = when.phrase()
        m["perimetre"] = self.departements
        m["perimetre_source"] = self.extent_source
        return m

    @cached_property
    def registry_date(self) -> RegistryDate:
        """The registry's date and its source (see :func:`registry_date`)."""
        return registry_date(self._raw_registry, given=self.date)

    def date_anomalies(self) -> pd.DataFrame:
        """Stage dates after the registry's date: typos, never a reference date.

        Columns of :attr:`couverture.registry.Registry.anomalies` (``ligne`` is the CPTS's
        first line); these dates are left out of :attr:`registry` (as if not given).
        """
        raw = self._raw_registry
        limit = month_end(self.registry_date.iso)
        first = raw.membership.groupby("cpts_id", sort=False)["ligne"].min()
        rows = []
        for col in [c for c in raw.cpts.columns if c.startswith("date_")]:
            values = raw.cpts[col]
            late = values.notna() & (values.astype(str) > limit)
            for cpts_id, value in values[late].items():
                rows.append(
                    {
                        "ligne": first.get(cpts_id),
                        "colonne": col,
                        "valeur": str(value),
                        "action": (
                            f"{col} de la CPTS {cpts_id} postérieure à la date du registre "
                            f"({_format.date(self.registry_date.iso)}) : date ignorée"
                        ),
                    }
                )
        columns = list(raw.anomalies.columns) or ["ligne", "colonne", "valeur", "action"]
        return pd.DataFrame(rows, columns=columns)

    def cached(self, name: str, compute: Any) -> pd.DataFrame:
        """Return frame ``name`` from the cache for this registry, else compute and cache it.

        ``compute`` takes no argument; ``name`` must include every option that changes the
        result (the default stage is added here).
        """
        name = f"{name}|stade={self.default_stage or ''}"
        frame = _cache.get_frame(name, self.digest)
        if frame is None:
            frame = compute()
            _cache.put_frame(name, self.digest, frame)
        return frame

    # ---------------------------------------------------------------- registry
    @cached_property
    def registry(self) -> Registry:
        """Return the parsed registry, stage dates after the registry's date left out.

        From the cache when this file was seen before, replaying the warnings of the first
        reading in the same words.
        """
        if self._origin is not None:
            return self._origin_registry()
        raw = self._raw_registry
        late = self.date_anomalies()
        if late.empty:
            return raw

        limit = month_end(self.registry_date.iso)
        cpts = raw.cpts.copy()
        for col in late["colonne"].unique():
            values = cpts[col]
            cpts[col] = values.mask(values.notna() & (values.astype(str) > limit))
        if len(late) == 1:
            log.warning("%s : %s", self.registry_path.name, late["action"].iloc[0])
        else:
            items = [f"{c} {v}" for c, v in zip(late["colonne"], late["valeur"], strict=True)]
            log.warning(
                "%s : %s postérieures à la date du registre (%s), ignorées : %s "
                "(couverture verifier les liste)",
                self.registry_path.name,
                _format.plural(len(late), "date de stade", "dates de stade"),
                _format.date(self.registry_date.iso),
                ", ".join(items[:5]) + (" …" if len(items) > 5 else ""),
            )
        return dataclasses.replace(raw, cpts=cpts)

    @cached_property
    def _raw_registry(self) -> Registry:
        """The registry as read (from the cache when this file was seen before)."""
        if self._origin is not None:
            self._origin_registry()
            return self._origin._raw_registry
        cached = self.cached_frames("registry_cpts", "registry_membership", "registry_anomalies")
        messages = _cache.get_frame(f"registry_log|stade={self.default_stage or ''}", self.digest)
        if cached is not None and messages is not None:
            cpts, members, anomalies = cached
            self._registry_log = [
                (int(level), str(message))
                for level, message in zip(messages["niveau"], messages["message"], strict=True)
            ]
            self._tell(self._registry_log)
            fictif = bool(cpts["_fictif"].iloc[0]) if len(cpts) else False
            stated = cpts["_date"].iloc[0] if len(cpts) and "_date" in cpts else None
            detail = str(cpts["_date_detail"].iloc[0]) if len(cpts) and "_date" in cpts else ""
            return Registry(
                path=self.registry_path,
                digest=self.registry_digest,
                cpts=cpts.drop(
                    columns=["_fictif", "_date", "_date_detail"], errors="ignore"
                ).set_index("cpts_id"),
                membership=members,
                anomalies=anomalies,
                fictif=fictif,
                date=str(stated) if isinstance(stated, str) and stated else None,
                date_detail=detail,
            )
        return self._read_registry()

    def cached_frames(self, *names: str) -> tuple[pd.DataFrame, ...] | None:
        """Return the cached frames ``names`` (with the default stage).

        Or ``None`` when one is missing.
        """
        frames = [
            _cache.get_frame(f"{n}|stade={self.default_stage or ''}", self.digest) for n in names
        ]
        if any(f is None for f in frames):
            return None
        return tuple(f for f in frames if f is not None)

    def _prefetch_graph(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read the graph's arrays on the other core while the registry is parsed.

        DuckDB works without the GIL, through a cursor of its own (a connection of its own to
        the same store, safe from another thread); :meth:`graph` takes the result if asked.
        """
        if self._graph is not None or "_graph_prefetch" in self.__dict__:
            return

        cursor = con.cursor()
        future: Future[dict[str, Any]] = Future()

        def read() -> None:
            try:
                future.set_result(store.graph_arrays(cursor))
            except BaseException as exc:  # graph() then reads directly
                future.set_exception(exc)
            finally:
                cursor.close()

        threading.Thread(target=read, name="graphe", daemon=True).start()
        self.__dict__["_graph_prefetch"] = future

    def _read_registry(self) -> Registry:
        con = self._connection()
        self._prefetch_graph(con)
        units = store.query(con, "SELECT code, nom, type, commune, departement FROM units")
        old_codes = store.query(con, "SELECT * FROM old_codes")
        # CPTS perimeters given as polygons are read against the unit geometries
        geometries = (
            self.geometries(national=True) if is_polygon_layer(self.registry_path) else None
        )
        with recording_log(logging.getLogger(REGISTRY_LOGGER)) as messages:
            reg = read_registry(
                self.registry_path,
                units=units,
                old_codes=old_codes,
                default_stage=self.default_stage,
                unit_geometries=geometries,
            )
        if reg.digest != self.registry_digest:
            # the file changed since this analysis opened it: its results are those of the
            # bytes actually read, cached under their own key
            self._fingerprint(reg.digest)
        stage = f"|stade={self.default_stage or ''}"
        cached_cpts = reg.cpts.reset_index().assign(
            _fictif=reg.fictif, _date=reg.date or "", _date_detail=reg.date_detail
        )
        _cache.put_frame("registry_cpts" + stage, self.digest, cached_cpts)
        _cache.put_frame("registry_membership" + stage, self.digest, reg.membership)
        _cache.put_frame("registry_anomalies" + stage, self.digest, pd.DataFrame(reg.anomalies))
        self._registry_log = list(messages)
        log_frame = pd.DataFrame(messages, columns=["niveau", "message"])
        # written last: its presence says the registry's frames are all there
        _cache.put_frame("registry_log" + stage, self.digest, log_frame)
        return reg

    # ---------------------------------------------------------------- results
    def _filter(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.departements is None:
            return frame
        return frame[frame["departement"].isin(self.departements)].reset_index(drop=True)

    @cached_property
    def _all_units(self) -> pd.DataFrame:
        if self._origin is not None:
            self._origin_registry()  # told first, as a fresh analysis reading it would
            return self._origin._all_units
        return self.cached(
            "units",
            lambda: unit_coverage(
                self._connection(), cpts=self.registry.cpts, membership=self.registry.membership
            ),
        )

    def check_departements(self) -> None:
        """Raise :class:`ArgumentError` for a ``departements`` code that is not in the store."""
        if self.departements is None:
            return
        known = self.__dict__.get("_known_departements")
        if known is None:  # asked by every result: the store's départements queried once
            known = set(self.territories("departement")["code"])
            self.__dict__["_known_departements"] = known
        check_departements(self.departements, known)

    def limit_to_registry(self) -> Analysis:
        """Restrict a regional registry read for all of France to its extent; return self.

        The extent of a registry is the départements where its CPTS claim at least one unit,
        when they are at most half of France (a regional or départemental registry); a
        national registry keeps all of France (a département without any CPTS is then
        uncovered, not outside the registry). Given ``departements`` are kept as they are.
        What lies outside the extent is « hors registre »: the figures, zones, maps and
        reports are those of the extent, as with ``--departement``.
        """
        if self.departements is not None:
            self.extent_source = self.extent_source or "option"
            return self
        mine, every = self.registry_departements()
        if mine and len(mine) <= every // 2:
            self.departements = mine
            self.extent_source = "registre"
        return self

    def registry_departements(self) -> tuple[tuple[str, ...], int]:
        """Départements where the registry's CPTS (projects included) claim at least one unit.

        Sorted, whatever the analysis's own ``departements``; with the number of départements
        of the store.
        """
        units = self._all_units
        deps = units["departement"].to_numpy(dtype=object)
        claimed = pd.unique(deps[units["n_revendications"].to_numpy() > 0])
        return tuple(sorted(str(d) for d in claimed if isinstance(d, str))), len(pd.unique(deps))

    def units(self) -> pd.DataFrame:
        """Coverage per unit (see :func:`couverture.coverage.unit_coverage`)."""
        self.check_departements()
        return self._filter(self._all_units)

    def geometries(
        self, *, departements: tuple[str, ...] | None = None, national: bool = False
    ) -> gpd.GeoDataFrame:
        """Return the unit geometries (WGS84) indexed by unit code.

        Units without geometry left out.

        Parameters
        ----------
        departements
            Départements to load (default: those of the analysis).
        national
            Load all of France, whatever the analysis's départements.
        """
        self.check_departements()
        deps = departements if departements is not None else self.departements
        return store.unit_geometries(self._connection(), departements=None if national else deps)

    def unit_table(self) -> pd.DataFrame:
        """Return the reference attributes of every unit of France (no geometry).

        ``code``, ``nom``, ``type``, ``commune``, ``departement``, ``region``, ``epci``,
        ``population``, ``bassin_vie``, ``nom_bassin_vie``, ``superficie_km2``, ``x``, ``y``…
        ordered by code.
        """
        sql = "SELECT * EXCLUDE (geometry) FROM units ORDER BY code"
        return store.query(self._connection(), sql)

    def old_codes(self) -> pd.DataFrame:
        """Old commune codes of the store: ``code_ancien``, ``code_actuel`` (as the registry)."""
        return store.query(self._connection(), "SELECT * FROM old_codes")

    def adjacency(self) -> pd.DataFrame:
        """Rook adjacency of all units.

        ``code_a``, ``code_b`` (both directions), ``frontiere_m`` (length of the shared border
        in metres).
        """
        sql = "SELECT * FROM adjacency ORDER BY code_a, code_b"
        return store.query(self._connection(), sql)

    def graph(self) -> UnitGraph:
        """Return the rook adjacency of all units of France.

        (see :class:`couverture._graph.UnitGraph`), built once per analysis and shared with
        :meth:`national`.
        """
        if self._graph is None and self._origin is not None:
            self._graph = self._origin.graph()
        if self._graph is None:
            prefetched = self.__dict__.pop("_graph_prefetch", None)
            read = prefetched is not None and prefetched.exception() is None
            g = prefetched.result() if read else store.graph_arrays(self._connection())
            # positions computed in SQL: no Python loop, no string conversion per edge
            self._graph = UnitGraph.from_positions(
                g["code"], g["departement"], g["a"], g["b"], g["m"]
            )
        return self._graph

    def territories(self, niveau: str) -> pd.DataFrame:
        """Names of the territories of a level (``region``, ``departement``, ``epci``).

        ``code``, ``nom`` and the other columns of the store's ``territories`` table.
        """
        sql = "SELECT * FROM territories WHERE niveau = ? ORDER BY code"
        return store.query(self._connection(), sql, [niveau])

    def map_geometries(
        self, *, niveau: str = "unite", departements: Sequence[str] | None = None
    ) -> gpd.GeoDataFrame:
        """Return the maps' simplified geometry, stored once per store at ``make data``.

        See :func:`couverture.store.map_geometries`: index ``code``, columns ``departement``,
        ``geojson`` and ``geometry``; ``niveau`` is ``unite`` or ``departement``.
        """
        return store.map_geometries(self._connection(), niveau=niveau, departements=departements)

    def zone_units(self) -> pd.DataFrame:
        """Return the members of the zones blanches as a long table.

        Columns ``zone_id`` and ``code``, one row per unit, in the order of :meth:`zones`.
        """
        return members(self.zones(), key="zone_id")

    def zone_names(self) -> pd.DataFrame:
        """Place names of the zones blanches, by ``zone_id`` (:func:`couverture.zones.zone_names`).

        « Zone blanche de Fougères et environs »: what every document calls a zone, its id
        kept beside as the stable reference; ``noms_communes`` lists the most populated first.
        """
        epci = self.territories("epci").set_index("code")["nom"].to_dict()
        return zone_names(self.zone_units(), self.unit_table(), epci_names=epci)

    def zone_geometries(self) -> gpd.GeoSeries:
        """One geometry per zone blanche (the union of its units), indexed by ``zone_id``."""
        return self.member_geometries(self.zone_units(), key="zone_id")

    def member_geometries(self, members: pd.DataFrame, *, key: str) -> gpd.GeoSeries:
        """Union of the unit geometries of each group of a long table (``key``, ``code``).

        Indexed by ``key`` in the order of first appearance; ``None`` for a group without any
        unit geometry.
        """
        deps = tuple(sorted(set(c[:3] if c.startswith("97") else c[:2] for c in members["code"])))
        return group_geometries(members, self.geometries(departements=deps), key=key)

    def rates(self, *, niveau: str = "departement") -> pd.DataFrame:
        """Coverage rates by stage at a territorial level (see ``coverage_rates``)."""
        rates = coverage_rates(self._connection(), self.units(), niveau=niveau)
        if self.departements is not None and niveau in ("france", "region"):
            # figures of the selected départements only: say so where the name is read
            of = "périmètre du registre" if self.extent_source == "registre" else "périmètre"
            rates["nom"] = rates["nom"] + f" ({of} : " + ", ".join(self.departements) + ")"
        return rates

    def zones(self) -> pd.DataFrame:
        """Zones blanches (see :func:`couverture.zones.white_zones`)."""
        self.check_departements()
        return self._filter(
            self.cached(
                "zones", lambda: white_zones(self._connection(), self._all_units, self.graph())
            )
        )

    def overlaps(self) -> pd.DataFrame:
        """Chevauchements and communes partagées (see :func:`couverture.zones.overlaps`)."""
        assert self.shared_threshold is not None
        return overlaps(self.units(), shared_threshold=self.shared_threshold)

    def cpts(self) -> pd.DataFrame:
        """One row per CPTS: population, taille, funding (see ``coverage.cpts_table``)."""
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
    date: str | None = None,
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
    date
        The registry's date when it states none (as ``--date``).
    """
    deps = parse_departements(departements) if isinstance(departements, str) else departements
    return Analysis(
        Path(registry),
        default_stage=default_stage,
        departements=deps,
        shared_threshold=shared_threshold,
        date=date,
    )
