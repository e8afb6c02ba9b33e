"""Dates inside a search query: "2023", "march 2024", "9 Mar 2024", "2024-03-09".

``extract`` finds the first date expression, returns the span of days it means and the
query without it, so the rest of the words still go to labels and names. A month alone
("march", "may") is not taken as a date: those are ordinary words too.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"

# Most specific first: the first pattern that matches wins.
_PATTERNS = [
    re.compile(rf"\b{_YEAR}[-/.](?P<mnum>[01]?\d)[-/.](?P<day>[0-3]?\d)\b"),  # 2024-03-09
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b"),  # 9 Mar 2024
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b"),  # March 9, 2024
    re.compile(rf"\b{_YEAR}[-/.](?P<mnum>[01]?\d)\b(?![-/.]\d)"),  # 2024-03
    re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b"),  # march 2024
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\b"),  # 9 March (any year)
    re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?!\s*[:.]\d)"),  # March 9 (any year)
    re.compile(rf"\b{_YEAR}\b"),  # 2023
]


@dataclass(frozen=True)
class DateQuery:
    """A day, month or year to match; a part left None matches any value."""

    text: str
    year: int | None
    month: int | None
    day: int | None

    def matches(self, day: date) -> bool:
        return ((self.year is None or day.year == self.year)
                and (self.month is None or day.month == self.month)
                and (self.day is None or day.day == self.day))


def extract(query: str) -> tuple[DateQuery | None, str]:
    """The first date expression in ``query`` and the query with it removed."""
    lowered = query.lower()
    for pattern in _PATTERNS:
        for m in pattern.finditer(lowered):
            found = _build(m)
            if found is not None:
                rest = (query[:m.start()] + " " + query[m.end():]).strip()
                return found, re.sub(r"\s+", " ", rest)
    return None, query.strip()


def _build(m: re.Match) -> DateQuery | None:
    groups = m.groupdict()
    year = int(groups["year"]) if groups.get("year") else None
    if groups.get("mnum"):
        month = int(groups["mnum"])
    elif groups.get("month"):
        month = _MONTHS[groups["month"]]
    else:
        month = None
    day = int(groups["day"]) if groups.get("day") else None
    if month is not None and not 1 <= month <= 12:
        return None
    if day is not None:
        # Feb 29 exists in some year; otherwise the day must fit the month.
        longest = calendar.monthrange(year or 2000, month)[1]
        if not 1 <= day <= longest:
            return None
    return DateQuery(m.group(0), year, month, day)


def local_day(iso_utc: str | None) -> date | None:
    """The calendar day, on this computer's clock, of a stored ISO 8601 UTC time."""
    if not iso_utc:
        return None
    try:
        moment = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().date()


def describe(day: date) -> str:
    return f"{day.day} {calendar.month_abbr[day.month]} {day.year}"
