"""Numbers with their units, read from an answer as written.

"100 °C", "100 degrees Celsius" and "212 °F" are one temperature; "5 million" is
5,000,000 (not the numbers 5 and 1,000,000); "$5" and "5 dollars" are the same
amount. ``read_quantities`` returns each number with its unit (or none) and the
text it was written as, so a clash can be shown in the answers' own words.
Unit names and symbols are reported as ``unit_spans`` so that the entity reader
never takes "Celsius" or the "C" of "°C" for a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "half": 0.5, "dozen": 12,
}
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000,
          "trillion": 1_000_000_000_000}
# Number tokens: digits as the signals module reads them (keeping a trailing '%'), with
# a minus sign that starts a word ("-89 °C", "−89"; not "COVID-19" or "3-5"), and
# number words standing alone (not "one-sided", "someone's").
MINUS = "-\u2212"
NUMBER_TOKEN = re.compile(
    r"(?:(?<![\w.,'’-])[-\u2212](?=\d))?\d+(?:,\d{3})*(?:\.\d+)?%?|(?<![A-Za-z'’-])(?i:"
    + "|".join(sorted([*NUMBER_WORDS, *SCALES], key=len, reverse=True))
    + r")(?![A-Za-z'’-])"
)
# A different unit of the same kind may be a rounded conversion ("3.1 miles" ~ "5 km").
CONVERSION_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class Unit:
    key: str  # one name per unit: "C", "km", "USD"
    kind: str  # quantities of one kind can be converted into each other
    factor: float = 1.0  # value in the kind's base unit = value * factor + offset
    offset: float = 0.0


# (unit, symbols matched as written, names matched in any case). Kinds with a single
# unit here (money) are never converted: "$5" and "5 euros" simply differ.
_TABLE: list[tuple[Unit, tuple[str, ...], tuple[str, ...]]] = [
    (Unit("C", "temperature"), ("°C", "° C", "℃", "ºC"),
     ("degrees celsius", "degree celsius", "degrees centigrade", "degrees c", "deg c",
      "celsius", "centigrade")),
    (Unit("F", "temperature", 5 / 9, -160 / 9), ("°F", "° F", "℉", "ºF"),
     ("degrees fahrenheit", "degree fahrenheit", "degrees f", "deg f", "fahrenheit")),
    (Unit("K", "temperature", 1.0, -273.15), ("K",), ("kelvins", "kelvin")),
    (Unit("km/h", "speed", 1 / 3.6), ("km/h", "kph", "km/hr"),
     ("kilometres per hour", "kilometers per hour")),
    (Unit("mph", "speed", 0.44704), ("mph",), ("miles per hour",)),
    (Unit("m/s", "speed"), ("m/s",), ("metres per second", "meters per second")),
    (Unit("km", "length", 1000.0), ("km",), ("kilometres", "kilometre", "kilometers", "kilometer")),
    (Unit("m", "length"), ("m",), ("metres", "metre", "meters", "meter")),
    (Unit("cm", "length", 0.01), ("cm",), ("centimetres", "centimetre", "centimeters", "centimeter")),
    (Unit("mm", "length", 0.001), ("mm",), ("millimetres", "millimetre", "millimeters", "millimeter")),
    (Unit("mi", "length", 1609.344), (), ("miles", "mile")),
    (Unit("ft", "length", 0.3048), ("ft",), ("feet", "foot")),
    (Unit("kg", "mass", 1000.0), ("kg",), ("kilograms", "kilogram", "kilos", "kilo")),
    (Unit("g", "mass"), ("g",), ("grams", "gram", "grammes", "gramme")),
    (Unit("mg", "mass", 0.001), ("mg",), ("milligrams", "milligram")),
    (Unit("lb", "mass", 453.59237), ("lb", "lbs"), ()),
    (Unit("t", "mass", 1_000_000.0), (), ("tonnes", "tonne", "metric tons")),
    (Unit("l", "volume"), ("l", "L"), ("litres", "litre", "liters", "liter")),
    (Unit("ml", "volume", 0.001), ("ml", "mL"), ("millilitres", "millilitre", "milliliters", "milliliter")),
    (Unit("%", "percent"), ("%",), ("per cent", "percent")),
    (Unit("USD", "USD"), ("USD", "US$", "$"), ("us dollars", "dollars", "dollar")),
    (Unit("EUR", "EUR"), ("EUR", "€"), ("euros", "euro")),
    (Unit("GBP", "GBP"), ("GBP", "£"), ("pounds sterling", "sterling")),
    (Unit("JPY", "JPY"), ("JPY", "¥"), ("yen",)),
    (Unit("s", "time"), ("sec",), ("seconds", "second")),
    (Unit("min", "time", 60.0), ("min",), ("minutes", "minute")),
    (Unit("h", "time", 3600.0), ("h", "hr", "hrs"), ("hours", "hour")),
    (Unit("d", "time", 86400.0), (), ("days", "day")),
    (Unit("wk", "time", 604800.0), (), ("weeks", "week")),
    (Unit("KB", "data", 1e3), ("KB", "kB"), ("kilobytes", "kilobyte")),
    (Unit("MB", "data", 1e6), ("MB",), ("megabytes", "megabyte")),
    (Unit("GB", "data", 1e9), ("GB",), ("gigabytes", "gigabyte")),
    (Unit("TB", "data", 1e12), ("TB",), ("terabytes", "terabyte")),
    (Unit("Hz", "frequency"), ("Hz",), ("hertz",)),
    (Unit("kHz", "frequency", 1e3), ("kHz",), ("kilohertz",)),
    (Unit("MHz", "frequency", 1e6), ("MHz",), ("megahertz",)),
    (Unit("GHz", "frequency", 1e9), ("GHz",), ("gigahertz",)),
    (Unit("W", "power"), ("W",), ("watts", "watt")),
    (Unit("kW", "power", 1e3), ("kW",), ("kilowatts", "kilowatt")),
    (Unit("MW", "power", 1e6), ("MW",), ("megawatts", "megawatt")),
    (Unit("kcal", "energy"), ("kcal",), ("kilocalories", "kilocalorie", "calories", "calorie")),
]
_BY_ALIAS: dict[str, Unit] = {}
for _unit, _symbols, _names in _TABLE:
    _BY_ALIAS.update({s: _unit for s in _symbols})
    _BY_ALIAS.update({n: _unit for n in _names})
_CURRENCY_PREFIX = {"US$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY",
                    "USD": "USD", "EUR": "EUR", "GBP": "GBP", "JPY": "JPY"}
_UNITS_BY_KEY = {unit.key: unit for unit, _, _ in _TABLE}


def _alias_pattern() -> re.Pattern[str]:
    symbols = sorted({s for _, syms, _ in _TABLE for s in syms}, key=len, reverse=True)
    names = sorted({n for _, _, ns in _TABLE for n in ns}, key=len, reverse=True)
    alternatives = [r"(?i:" + re.escape(n).replace(r"\ ", r"\s+") + ")" for n in names]
    alternatives += [re.escape(s) for s in symbols]
    # After the number: optional space or hyphen, then the unit, not followed by a letter.
    return re.compile(r"[ \t\u00a0-]?(?P<unit>" + "|".join(alternatives) + r")(?![A-Za-z])")


UNIT_AFTER = _alias_pattern()
CURRENCY_BEFORE = re.compile(r"(?:US\$|\$|€|£|¥|(?:USD|EUR|GBP|JPY)\s?)\s?$")
# Unit names that are never a person or place, whatever surrounds them.
UNIT_NAMES = frozenset({"celsius", "centigrade", "fahrenheit", "kelvin", "kelvins", "usd", "eur",
                        "gbp", "jpy", "kb", "mb", "gb", "tb", "hz", "khz", "mhz", "ghz", "kw", "mw",
                        "kcal", "mph", "kph"})


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float  # the number as stated, in its own unit
    unit: Unit | None
    text: str  # the number as written: "100", "two", "5 million"
    full: str = ""  # number and unit as written: "100 °C", "$5 million"

    @property
    def base(self) -> float:
        if self.unit is None:
            return self.value
        return self.value * self.unit.factor + self.unit.offset

    def shown(self, with_unit: bool) -> str:
        return self.full if with_unit and self.full else self.text


def comparable(a: Quantity, b: Quantity) -> bool:
    """Bare numbers compare with anything; quantities only with their own kind."""
    return a.unit is None or b.unit is None or a.unit.kind == b.unit.kind


def same_quantity(a: Quantity, b: Quantity) -> bool:
    if a.unit is None or b.unit is None or a.unit.key == b.unit.key:
        return a.value == b.value
    if a.unit.kind != b.unit.kind:
        return False
    x, y = a.base, b.base
    return abs(x - y) <= CONVERSION_TOLERANCE * max(abs(x), abs(y)) + 1e-9


@dataclass(slots=True)
class _Run:
    """Adjacent number tokens read as one number: "twenty five", "5 million"."""

    start: int
    end: int
    value: float
    small: float
    words: list[str]
    has_digits: bool


def _token_value(tok: str) -> float | None:
    low = tok.lower()
    if low in NUMBER_WORDS:
        return float(NUMBER_WORDS[low])
    if _has_digits(tok):
        return float(tok.rstrip("%").replace(",", "").replace("\u2212", "-"))
    return None


def _has_digits(tok: str) -> bool:
    return tok.lstrip(MINUS)[:1].isdigit()


def _joins(small: float, value: float) -> bool:
    """Whether a number word continues the one before: "twenty five", "one hundred six"."""
    if small > 0 and small % 100 == 0:
        return value < 100
    return small % 100 >= 20 and small % 10 == 0 and value < 10


def _number_runs(text: str) -> list[_Run]:
    runs: list[_Run] = []
    for m in NUMBER_TOKEN.finditer(text):
        tok, low = m.group(), m.group().lower()
        last = runs[-1] if runs else None
        adjacent = (last is not None and text[last.end:m.start()] in (" ", "-")
                    and not last.words[-1].endswith("%"))
        if low in SCALES and last is not None and adjacent:
            if SCALES[low] == 100:
                last.small *= 100
            else:
                last.value += last.small * SCALES[low]
                last.small = 0.0
            last.end, last.words = m.end(), [*last.words, tok]
            continue
        value = SCALES.get(low) or _token_value(tok)
        if value is None:
            continue
        if (last is not None and adjacent and low in NUMBER_WORDS and not last.has_digits
                and low not in ("half", "dozen") and _joins(last.small, value)):
            last.small += value
            last.end, last.words = m.end(), [*last.words, tok]
            continue
        runs.append(_Run(m.start(), m.end(), 0.0, float(value), [tok], _has_digits(tok)))
    return runs


def _unit_after(text: str, end: int) -> tuple[Unit | None, int]:
    match = UNIT_AFTER.match(text, end)
    if not match:
        return None, end
    written = match.group("unit")
    unit = _BY_ALIAS.get(written) or _BY_ALIAS.get(" ".join(written.lower().split()))
    return unit, match.end()


def read_quantities(text: str, exclude: set[str]) -> tuple[list[Quantity], list[tuple[int, int]]]:
    """Numbers (with units where stated) and the character spans of the units."""
    quantities: list[Quantity] = []
    spans: list[tuple[int, int]] = []
    for run in _number_runs(text):
        if all(w.lower() in exclude for w in run.words):
            continue
        written = text[run.start:run.end]
        if written.endswith("%"):
            quantities.append(Quantity(run.value + run.small, _UNITS_BY_KEY["%"], written[:-1], written))
            continue
        unit, unit_end = _unit_after(text, run.end)
        prefix = CURRENCY_BEFORE.search(text, max(0, run.start - 5), run.start)
        full = ""
        if prefix:  # "$5", "USD 5": the currency wins over a letter after the number
            unit = _UNITS_BY_KEY[_CURRENCY_PREFIX[prefix.group().strip()]]
            spans.append((prefix.start(), run.start))
            full = text[prefix.start():run.end]
        elif unit is not None:
            spans.append((run.end, unit_end))
            full = text[run.start:unit_end]
        quantities.append(Quantity(run.value + run.small, unit, written, full))
    return quantities, spans


def is_year(q: Quantity) -> bool:
    return (q.unit is None and len(q.text) == 4 and q.text.isdigit()
            and 1000 <= q.value <= 2100)
