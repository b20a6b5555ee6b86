"""admin_contacts_1m_vs_1k: contact admin page time at 1,000,000 contacts divided by the time at 1,000.

Both databases are built on the local PostgreSQL with server-side SQL (attributes drawn
independently of each other, as in real data), analysed, then the same set of agent pages (list,
filters, a search for one person, a profile) is timed on each in the same run.
"""

import sys

from bench.common import large_vs_small, time_admin_pages
from bench.datasets import build_contacts

SIZES = {"small": 1_000, "large": 1_000_000}
QUICK_LARGE = 100_000


def _agent_pages() -> list[str]:
    from contacts.models import Contact, Tag

    tag = Tag.objects.get(name="vip")
    contact = Contact.objects.filter(role="user").order_by("-last_seen_at").first()
    base = "/admin/contacts/contact/"
    return [
        base,
        f"{base}?role__exact=user",
        f"{base}?tag={tag.pk}",
        f"{base}?seen=7d",
        f"{base}?country=FR&role__exact=lead",
        f"{base}?ca__plan=pro",
        f"{base}?q=person777%40",
        f"{base}?p=5",
        f"{base}{contact.pk}/change/",
    ]


def measure(figures: list[str], quick: bool) -> dict[str, float]:
    large = QUICK_LARGE if quick else SIZES["large"]
    ratio = large_vs_small(
        "bench.admin_contacts", small=SIZES["small"], large=large, database_prefix="parley_bench_admin"
    )
    return {"admin_contacts_1m_vs_1k": ratio}


if __name__ == "__main__":
    time_admin_pages(size=int(sys.argv[1]), database=sys.argv[2], build=build_contacts, pages=_agent_pages)
