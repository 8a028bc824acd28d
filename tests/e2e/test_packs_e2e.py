"""Every pack and Fleet query that reads only postern's tables runs on the
rows the built extension returns through osquery's Thrift protocol, in
SQLite as osquery would run it."""

import os
import sqlite3
import sys

from harness import REPO, call, generate

sys.path.insert(0, os.path.join(REPO, "tests", "packs"))
import packlib  # noqa: E402  (the pack checks' loader)

POSTERN_TABLES = packlib.POSTERN_TABLES


def test_postern_queries_run_on_extension_rows(registered):
    _, _, path = registered
    db = sqlite3.connect(":memory:")
    for table in sorted(POSTERN_TABLES):
        routes = call(path, table, {"action": "columns"})
        assert routes.status.code == 0, table
        columns = [r["name"] for r in routes.response]
        types = [r["type"] for r in routes.response]
        db.execute(f'CREATE TABLE "{table}" ({", ".join(f"{c} {t}" for c, t in zip(columns, types))})')
        resp = generate(path, table)
        assert resp.status.code == 0, (table, resp.status.message)
        for row in resp.response:
            db.execute(f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(columns))})',
                       [row.get(c) for c in columns])
    # The registry as osqueryd would show it with the extension loaded.
    db.execute("CREATE TABLE osquery_registry (registry TEXT, name TEXT, active INTEGER)")
    for table in POSTERN_TABLES:
        db.execute("INSERT INTO osquery_registry VALUES ('table', ?, 1)", (table,))
    ran = 0
    for source, name, sql, _ in packlib.all_queries():
        try:
            reads = packlib.tables_and_columns(db, sql)
        except sqlite3.OperationalError:
            continue  # reads a core table, which only osqueryd has
        tables = {t for t, _ in reads}
        if not tables or not tables <= POSTERN_TABLES | {"osquery_registry"}:
            continue
        db.execute(sql).fetchall()
        ran += 1
    assert ran >= 15, ran
