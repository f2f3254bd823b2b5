"""Every command on generated registries over the real units (issue 17, « a corpus »).

A handful of seeds run here (fast: no document command on most of them); ``make fuzz`` runs
``FUZZ_N`` seeds with every command (``tests/corpus.py``). Each seed that ever failed is kept
in :data:`FOUND` and runs with every command.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import pytest
from corpus import generate, run_corpus_case

#: seeds ``make fuzz`` found failing once (and the bug they found), run with every command
FOUND: dict[int, str] = {
    1003: "rapport : ValueError dans report.write_xlsx, colonne date_aci toute vide (dates 2042)",
    1014: "rapport : la même ValueError, sur une colonne de texte toute vide sans date de stade",
    2027: "fiches : GEOSException (side location conflict) en coupant une CPTS de petites communes",
    5057: "suggestions (vérification du corpus) : la CA Roissy Pays de France, 98 426 hab. en 77, "
    "comptée sans sa part du 95 : un EPCI au-delà du plafond, découpé par bassins de vie",
    4236: "taux : une commune listée deux fois pour une CPTS (30 %, 70 %) garde sa première part ; "
    "la vérification du corpus comptait la commune entière couverte",
}

#: a few shapes of each kind, analysis commands only (the documents run on FOUND and in fuzz)
QUICK = (1, 2, 3, 5, 8, 21, 23)  # 972, Paris by names, Corse, national, Bretagne, XLSX, PLM
#: seed 5 once scattered an intact EPCI crossing a border (CC Le Grand Charolais, 71 and 03)

FUZZ_N = int(os.environ.get("FUZZ_N", "0") or 0)
FUZZ_START = int(os.environ.get("FUZZ_START", "1000") or 1000)


@pytest.mark.parametrize("seed", QUICK)
def test_generated_registry_analysis_commands(tmp_path: Path, seed: int) -> None:
    case = generate(seed, tmp_path)
    run_corpus_case(case, tmp_path, full=False)


@pytest.mark.parametrize("seed", sorted({34, *FOUND}))  # 34: two tiny CPTS (04, 2B)
def test_generated_registry_every_command(tmp_path: Path, seed: int) -> None:
    case = generate(seed, tmp_path)
    run_corpus_case(case, tmp_path, full=True)


@pytest.mark.skipif(not FUZZ_N, reason="make fuzz (FUZZ_N registres)")
@pytest.mark.parametrize("seed", range(FUZZ_START, FUZZ_START + FUZZ_N))
def test_fuzz(tmp_path: Path, seed: int) -> None:
    case = generate(seed, tmp_path)
    try:
        run_corpus_case(case, tmp_path, full=True)
    except BaseException as exc:
        # each failure written as it happens (FUZZ_LOG): a long run stopped midway keeps them
        if log := os.environ.get("FUZZ_LOG"):
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"--- {case.describe()}\n{type(exc).__name__}: {exc}\n")
                fh.write("".join(traceback.format_exception(exc)[-3:]) + "\n")
        raise


def test_the_proposal_checks_catch_what_issue_18_forbids(tmp_path: Path) -> None:
    # the corpus' own checks fail on the absurd lines issue 18 names: an extension to a CPTS
    # it does not touch (Rennes' commune given to a CPTS of Brest), a micro-CPTS creation
    import pandas as pd
    from corpus import _check_extensions_touch, _check_plancher

    case = generate(1, tmp_path)
    communes = pd.DataFrame({"code": ["29019", "35238"], "cpts": ["CPTS Brest", ""]})
    far = pd.DataFrame(
        {
            "proposition_id": ["P1"],
            "zone_id": ["ZB-35-35238"],
            "option": ["extension"],
            "cpts_cible": ["CPTS Brest"],
            "communes": ["35238"],
            "motif": ["extension"],
        }
    )
    with pytest.raises(AssertionError, match="ne touche pas CPTS Brest"):
        _check_extensions_touch(case, communes, far)
    micro = far.assign(
        option="creation", details="", population_ajoutee=1236, population_zone=85093
    )
    with pytest.raises(AssertionError, match="sous le plancher"):
        _check_plancher(case, micro)
    # an intact EPCI without CPTS (Acigné and its neighbours, 35) over three creations
    from corpus import _check_epcis_whole, _neighbours

    codes = sorted({"35001", *_neighbours()["35001"]})
    communes = pd.DataFrame(
        {"code": codes, "epci": "200000000", "stade": "", "cpts": "", "population": 5000}
    )
    zones = pd.DataFrame({"zone_id": ["ZB-35-35001"], "communes": [" ".join(codes)]})
    thirds = [" ".join(codes[i::3]) for i in range(3)]
    scattered = pd.DataFrame({"proposition_id": ["P1", "P2", "P3"], "communes": thirds})
    with pytest.raises(AssertionError, match="dispersé sur 3 propositions"):
        _check_epcis_whole(case, communes, zones, scattered)
    whole = scattered.iloc[:1].assign(communes=zones["communes"])
    _check_epcis_whole(case, communes, zones, whole)  # one creation: no error
