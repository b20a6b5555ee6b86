"""One guard for every CSV Parley writes (OWASP CSV injection): common.csv_export.csv_cell."""

import ast
from pathlib import Path

import pytest

from common.csv_export import csv_cell

ROOT = Path(__file__).resolve().parents[2]
APPS = ["api", "common", "companies", "config", "contacts", "conversations", "ops", "privacy", "reports",
        "retention", "segments", "tracking", "widget"]  # fmt: skip
FORMULAS = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1", "\n=1+1", "  =1+1", "\u3000=1+1", "\uff1d1+1",
            "\uff0b1", "\uff0d1", "\uff20SUM(A1)"]  # fmt: skip


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_cell_that_could_start_a_formula_is_written_as_text(formula):
    assert csv_cell(formula) == "'" + formula


@pytest.mark.parametrize("text", ["Ada Lovelace", "a-b", "Zoë = 1", "06 12 34 56 78", ""])
def test_ordinary_text_and_numbers_stay_as_they_are(text):
    assert csv_cell(text) == text
    assert csv_cell(-5) == -5


def test_every_csv_writer_in_parley_writes_its_cells_through_csv_cell():
    """A module that makes a csv.writer passes every row's cells through csv_cell (no second guard, none missing)."""
    writers, unguarded = [], []
    for folder in APPS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
            names = {getattr(call.func, "attr", None) or getattr(call.func, "id", None) for call in calls}
            if {"writer", "DictWriter"} & names and any(
                isinstance(call.func, ast.Attribute) and call.func.attr in ("writer", "DictWriter")
                and getattr(call.func.value, "id", None) == "csv" for call in calls
            ):  # fmt: skip
                writers.append(str(path.relative_to(ROOT)))
                rows = [call for call in calls if getattr(call.func, "attr", None) in ("writerow", "writerows")]
                if not rows or any("csv_cell" not in ast.unparse(call) for call in rows):
                    unguarded.append(str(path.relative_to(ROOT)))
    assert sorted(writers) == ["companies/admin.py", "contacts/admin/csv_export.py", "reports/views.py"]
    assert unguarded == []
