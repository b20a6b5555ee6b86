"""Where the reports read customer satisfaction ratings from: the one seam to the CSAT feature.

The rollup of a day (reports.services) asks `csat_ratings_between` for the ratings given that day and
counts them per website, team and teammate (as the conversation had them at the closure) and score. A
rating's day is the day it was first given (`rated_at`); the contact can change it for 24 hours, which
fall in the two days the refresh task recomputes every ten minutes.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from conversations.selectors import ratings_given


@dataclass(frozen=True)
class CsatRating:
    rated_at: dt.datetime
    website_id: int | None
    team_id: int | None
    teammate_id: int | None  # the assignee at the closure (else the teammate who closed it)
    score: int  # 1 to 5; anything else is not counted


def csat_ratings_between(*, start: dt.datetime, end: dt.datetime) -> Iterable[CsatRating]:
    """The ratings given in [start, end), read through the ratings' `rated_at` index."""
    rows = ratings_given(since=start, until=end).values_list(
        "rated_at", "website_id", "team_id", "teammate_id", "rating"
    )
    return (CsatRating(*row) for row in rows.iterator())
