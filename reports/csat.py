"""Where the reports read customer satisfaction ratings from: the one seam to the CSAT feature.

The rollup of a day (reports.services) asks `csat_ratings_between` for the ratings given that day and
counts them per website, team and teammate and score. Until the CSAT feature stores ratings, there are
none, and the dashboard's CSAT chart says "No ratings yet".

To wire CSAT in, make this function return the ratings given in [start, end) (one per conversation
closure, counted on the day of the rating — its latest change, which is allowed for 24 hours, falls in
the two days the refresh task recomputes), read from an indexed timestamp, for example:

    from conversations.models import ConversationRating
    rows = ConversationRating.objects.filter(rated_at__gte=start, rated_at__lt=end).values_list(
        "rated_at", "conversation__website_id", "conversation__team_id", "conversation__assignee_id", "score")
    return (CsatRating(*row) for row in rows.iterator())

then `manage.py rebuild_reports --days N` counts the ratings already given.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CsatRating:
    rated_at: dt.datetime
    website_id: int | None
    team_id: int | None
    teammate_id: int | None  # the conversation's assignee
    score: int  # 1 to 5; anything else is not counted


def csat_ratings_between(*, start: dt.datetime, end: dt.datetime) -> Iterable[CsatRating]:
    """The ratings given in [start, end). None until the CSAT feature stores ratings."""
    return ()
