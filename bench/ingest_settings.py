"""Parley's settings plus the floor endpoint's URL (benchmarks only)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.ingest_floor"
