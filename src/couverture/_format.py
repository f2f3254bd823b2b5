"""French formatting of numbers, money, dates and plurals: the one place every output uses.

Thousands are separated by a narrow no-break space (U+202F), decimals by a comma, the percent
and euro signs follow a no-break space (U+00A0), as the French typographic rules ask.
Missing values (``None``, NaN) become ``missing`` (an em dash by default).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

THIN = "\u202f"
NBSP = "\u00a0"
DASH = "—"

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def is_missing(value: Any) -> bool:
    """Return whether ``value`` is ``None`` or a float NaN (pandas' NA counts too).

    Examples
    --------
    >>> is_missing(None), is_missing(float("nan")), is_missing(0)
    (True, True, False)
    """
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pd.NA raises TypeError on bool()
    except TypeError:
        return True


def number(value: Any, *, decimals: int | None = None, missing: str = DASH) -> str:
    """French number: ``1234567.5`` → ``1 234 567,5`` (U+202F between thousands).

    ``decimals=None`` prints integers without decimals and other floats with two.

    Examples
    --------
    >>> number(1234567), number(98.5, decimals=1), number(None)
    ('1\\u202f234\\u202f567', '98,5', '—')
    """
    if isinstance(value, str):
        return value
    if is_missing(value) or isinstance(value, bool):
        return missing if not isinstance(value, bool) else str(value)
    x = float(value)
    if math.isinf(x):
        return missing
    if decimals is None:
        decimals = 0 if x.is_integer() else 2
    text = f"{x:,.{decimals}f}" if decimals else f"{round(x):,}"
    return text.replace(",", THIN).replace(".", ",")


def integer(value: Any, *, missing: str = DASH) -> str:
    """French integer, rounded: ``39999.6`` → ``40 000``.

    Examples
    --------
    >>> integer(40000), integer(float("nan"))
    ('40\\u202f000', '—')
    """
    return number(value, decimals=0, missing=missing)


def percent(value: Any, *, decimals: int = 1, missing: str = DASH) -> str:
    """French percentage of a value already in percent: ``98.06`` → ``98,1 %``.

    Examples
    --------
    >>> percent(98.06)
    '98,1\\xa0%'
    """
    text = number(value, decimals=decimals, missing="")
    return missing if text == "" else f"{text}{NBSP}%"


def euros(value: Any, *, missing: str = DASH) -> str:
    """Euros without cents: ``287000`` → ``287 000 €``.

    Examples
    --------
    >>> euros(287000)
    '287\\u202f000\\xa0€'
    """
    text = number(value, decimals=0, missing="")
    return missing if text == "" else f"{text}{NBSP}€"


def kilometres(metres: float, *, decimals: int = 1) -> str:
    """Distance in kilometres from metres: ``12345`` → ``12,3 km``.

    Examples
    --------
    >>> kilometres(12345)
    '12,3\\xa0km'
    """
    return f"{number(metres / 1000, decimals=decimals)}{NBSP}km"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``n`` followed by the word, in the plural from 2 on (French rule: 0 and 1 singular).

    Examples
    --------
    >>> plural(1, "commune"), plural(3, "commune"), plural(12000, "habitant")
    ('1 commune', '3 communes', '12\\u202f000 habitants')
    """
    word = singular if abs(n) < 2 else (plural_form or singular + "s")
    return f"{integer(n)} {word}"


def month(value: str) -> str:
    """French month from ``AAAA-MM``: ``2026-11`` → ``novembre 2026``.

    Examples
    --------
    >>> month("2026-11")
    'novembre 2026'
    """
    year, mm = value[:7].split("-")
    return f"{MONTHS[int(mm) - 1]} {year}"


def date(value: str | dt.date) -> str:
    """French date from ISO (``2026-11-29`` → ``29 novembre 2026``).

    A month alone (``2026-01``) gives ``janvier 2026``, a year alone stays as is.

    Examples
    --------
    >>> date("2026-11-29"), date("2026-01-01"), date("2026-01")
    ('29 novembre 2026', '1er janvier 2026', 'janvier 2026')
    """
    text = value.isoformat() if isinstance(value, dt.date) else str(value)[:10]
    parts = text.split("-")
    if len(parts) == 2:
        return month(text)
    if len(parts) != 3:
        return text
    day = int(parts[2])
    return f"{'1er' if day == 1 else day} {MONTHS[int(parts[1]) - 1]} {parts[0]}"


def of_date(value: str | dt.date) -> str:
    """Return the date with its preposition, as after « registre » .

    ``du 29 novembre 2026``, ``de janvier 2026``, ``d'avril 2026`` (elided before a vowel).

    Examples
    --------
    >>> of_date("2026-11-29"), of_date("2026-01"), of_date("2026-04"), of_date("2026-08")
    ('du 29 novembre 2026', 'de janvier 2026', "d'avril 2026", "d'août 2026")
    """
    text = date(value)
    if text[:1].isdigit() and "-" not in text and " " in text:
        return f"du {text}"
    return f"d'{text}" if text[:1] in "aeiouyâéèêîôûh" else f"de {text}"


#: Legal forms of an EPCI, long → short, as people write them (« CC du Pays de Redon »).
_EPCI_FORMS = (
    ("communauté de communes", "CC"),
    ("communauté d'agglomération", "CA"),
    ("communauté d’agglomération", "CA"),
    ("communauté urbaine", "CU"),
    ("métropole", "Métropole"),
)


def short_epci(name: str) -> str:
    """Shorten the legal form at the start of an EPCI's name (« CC », « CA », « CU »).

    Names that do not start with a legal form (« Rennes Métropole », « Fougères
    Agglomération ») are kept as they are.

    Examples
    --------
    >>> short_epci("Communauté de communes du Pays de Redon")
    'CC du Pays de Redon'
    >>> short_epci("Communauté d'agglomération Vitré Communauté"), short_epci("Rennes Métropole")
    ('CA Vitré Communauté', 'Rennes Métropole')
    >>> short_epci("Métropole d'Aix-Marseille-Provence")
    "Métropole d'Aix-Marseille-Provence"
    """
    text = str(name).strip()
    low = text.lower()
    for long, short in _EPCI_FORMS:
        if low.startswith(long) and (len(low) == len(long) or low[len(long)] in " -"):
            return (short + text[len(long) :]).strip()
    return text


def name_list(
    names: list[str], populations: list[float], *, max_names: int = 12, sep: str = ", "
) -> str:
    """List places most populated first, the rest counted with their inhabitants.

    Examples
    --------
    >>> name_list(["Lécousse", "Fougères", "Javené"], [3000, 20307, 1900], max_names=2)
    'Fougères, Lécousse et 1 autre commune (1\\u202f900\\xa0hab.)'
    >>> name_list(["A", "B"], [1, 2])
    'B, A'
    """
    order = sorted(range(len(names)), key=lambda i: (-float(populations[i] or 0), names[i]))
    shown = [names[i] for i in order[:max_names]]
    rest = order[max_names:]
    if not rest:
        return sep.join(shown)
    others = plural(len(rest), "autre commune", "autres communes")
    held = integer(sum(float(populations[i] or 0) for i in rest))
    return f"{sep.join(shown)} et {others} ({held}{NBSP}hab.)"
