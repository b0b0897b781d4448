"""Many rows per INSERT: every row lands, in the order given, whatever the number of statements."""

import sqlite3

import pytest

from scitune.sources.sqlite_rows import PARAMETERS, insert_rows


@pytest.mark.parametrize("rows", [0, 1, PARAMETERS // 2 - 1, PARAMETERS // 2, PARAMETERS // 2 + 1, 3 * PARAMETERS + 7])
def test_rows_land_in_order_across_statements(rows):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a TEXT, b INTEGER)")
    insert_rows(db, "t", [value for n in range(rows) for value in (f"k{n}", n)])
    assert db.execute("SELECT rowid, a, b FROM t ORDER BY rowid").fetchall() == [(n + 1, f"k{n}", n) for n in range(rows)]


def test_values_that_do_not_make_whole_rows_are_refused():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a, b, c)")
    with pytest.raises(ValueError, match="5 values do not make rows of 3 columns for table t"):
        insert_rows(db, "t", [1, 2, 3, 4, 5], columns=3)
    insert_rows(db, "t", list(range(6 * PARAMETERS)), columns=3)  # 500 is not a multiple of 3
    assert db.execute("SELECT COUNT(*), MAX(c) FROM t").fetchone() == (2 * PARAMETERS, 6 * PARAMETERS - 1)
