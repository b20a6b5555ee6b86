#!/usr/bin/env python
"""Parley benchmarks: `python bench/run.py [--quick] [FIGURE ...]` prints one `FIGURE VALUE` line each.

Every figure is a ratio or count measured side by side in one run on this machine. Each bench
module exposes `measure(figures: list[str], quick: bool) -> dict[str, float]`.
"""

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FIGURES = {
    "ingest_vs_floor": "bench.ingest",
    "ingest_new_visitors_vs_floor": "bench.ingest",
    "ingest_mixed_vs_floor": "bench.ingest",
    "ingest_vs_bare_django": "bench.ingest",
    "flush_rows_per_second": "bench.ingest",
    "queries_per_ping": "bench.ingest",
    "admin_contacts_1m_vs_1k": "bench.admin_contacts",
    "admin_inbox_1m_vs_1k": "bench.admin_inbox",
    "admin_companies_100k_vs_1k": "bench.admin_companies",
    "expiry_vs_raw_sql": "bench.expiry",
    "expiry_peak_rss_mb_20k": "bench.expiry",
    "expiry_peak_rss_mb_200k": "bench.expiry",
    "expiry_partitioned_vs_plain": "bench.expiry_partitioned",
    "admin_contact_10m_vs_10k": "bench.admin_contact",
    "api_search_1m_vs_1k": "bench.api_search",
    "reports_1m_vs_1k": "bench.reports",
    "attachment_hostile_scaling": "bench.attachments",
    "widget_loader_gz_bytes": "bench.widget",
    "widget_total_gz_bytes": "bench.widget",
    "widget_requests_per_page_view": "bench.widget",
    "soak_error_rate": "bench.soak",
    "soak_p99_vs_idle": "bench.soak",
    "soak_worker_peak_rss_mb": "bench.soak",
    "soak_worker_rss_growth_mb": "bench.soak",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("figures", nargs="*", help="figures to measure (all when none is named)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for CI")
    args = parser.parse_args()
    unknown = [f for f in args.figures if f not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    wanted = args.figures or list(FIGURES)
    failed = False
    by_module: dict[str, list[str]] = {}
    for figure in wanted:
        by_module.setdefault(FIGURES[figure], []).append(figure)
    for module_name, figures in by_module.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            for figure in figures:
                print(f"{figure} unavailable", flush=True)
            failed = True
            continue
        results = module.measure(figures, args.quick)
        for figure in figures:
            value = results.get(figure)
            print(f"{figure} {value:.3g}" if isinstance(value, float) else f"{figure} {value}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
