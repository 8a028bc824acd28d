"""The packs and Fleet files: well-formed, prepared by SQLite against the
tables they read, checked against osquery's schema, and their postern
queries run on real rows from the built extension."""

import json
import os
import re
import sqlite3

import pytest

from packlib import (postern_schema, FLEET_SCHEMA, POSTERN_TABLES, REPO, all_queries, load_packs, load_yaml,
                      sqlite_with_schema, tables_and_columns)

OSQUERY_PLATFORMS = {"all", "any", "posix", "linux", "darwin", "windows", "freebsd"}
FLEET_PLATFORMS = {"linux", "darwin", "windows", "chrome"}
MAX_INTERVAL = 604800


def platforms_of(platform):
    if platform in ("all", "any", ""):
        return {"linux", "darwin", "windows"}
    out = set()
    for p in platform.split(","):
        out |= {"linux", "darwin"} if p.strip() == "posix" else {p.strip()}
    return out


def test_packs_are_well_formed():
    names = set()
    for pack_name, pack in load_packs().items():
        assert pack["platform"] in OSQUERY_PLATFORMS, pack_name
        uses_postern = False
        for qname, q in pack["queries"].items():
            assert qname not in names, f"{qname} appears twice"
            names.add(qname)
            assert isinstance(q["interval"], int) and 1 <= q["interval"] <= MAX_INTERVAL, qname
            assert q["description"].strip() and q["value"].strip(), qname
            assert q["platform"] in OSQUERY_PLATFORMS, qname
            assert isinstance(q["snapshot"], bool), qname
            if any(re.search(rf"\b{t}\b", q["query"]) for t in POSTERN_TABLES):
                uses_postern = True
        if uses_postern:
            assert pack.get("discovery"), f"{pack_name} uses postern's tables without a discovery query"


def test_detection_reaches_the_log_within_ten_minutes():
    for pack in load_packs().values():
        for qname, q in pack["queries"].items():
            if not q["snapshot"] and qname.endswith(("unapproved", "processes", "status", "devices", "enabled")):
                # osquery adds up to 10 % splay to the interval.
                assert q["interval"] * 1.1 <= 600, qname


def test_fleet_files_are_well_formed():
    reports = load_yaml("reports.yml")
    names = [r["name"] for r in reports]
    assert len(names) == len(set(names))
    for r in reports:
        assert r["logging"] in ("snapshot", "differential", "differential_ignore_removals")
        assert isinstance(r["interval"], int) and 1 <= r["interval"] <= MAX_INTERVAL
        assert set(r["platform"].split(",")) <= FLEET_PLATFORMS
        assert r["observer_can_run"] is True and isinstance(r["automations_enabled"], bool)
    policies = load_yaml("policies.yml")
    with_scripts = load_yaml("fleet-policies.yml")
    assert len({p["name"] for p in policies}) == len(policies)
    # The same policies, the fleet file's with remediation scripts.
    assert [dict(p, run_script=None) for p in with_scripts] == [dict(p, run_script=None) for p in policies]
    assert not any("run_script" in p for p in policies)
    assert sum("run_script" in p for p in with_scripts) == 3
    # Every policy but the coverage one is scoped to the hosts with postern.
    unscoped = [p["name"] for p in policies if "labels_include_any" not in p]
    assert unscoped == ["postern: extension loaded"], unscoped
    for p in with_scripts:
        assert p["resolution"].strip() and p["description"].strip(), p["name"]
        assert set(p["platform"].split(",")) <= FLEET_PLATFORMS
        if "run_script" in p:
            path = os.path.normpath(os.path.join(REPO, "fleet", p["run_script"]["path"]))
            assert os.path.isfile(path) and os.access(path, os.X_OK), path


@pytest.mark.parametrize("source,name,sql,platform", all_queries())
def test_query_prepares_against_the_schema(schemas, source, name, sql, platform):
    postern, core = schemas
    db = sqlite_with_schema(postern, core)
    reads = tables_and_columns(db, sql)
    assert reads, f"{source}:{name} reads no table"
    for table, _ in reads:
        if table in core:
            assert platforms_of(platform) <= set(core[table]["platforms"]), \
                f"{source}:{name} runs on {platform} but {table} exists only on {core[table]['platforms']}"


@pytest.mark.skipif(not os.path.exists(FLEET_SCHEMA), reason="Fleet's schema is not beside the project")
def test_core_schema_and_queries_match_fleets_schema(schemas):
    with open(FLEET_SCHEMA) as f:
        fleet = {t["name"]: t for t in json.load(f)}
    postern, core = schemas
    for table, spec in core.items():
        assert table in fleet, table
        fleet_cols = {c["name"] for c in fleet[table]["columns"]}
        assert set(spec["columns"]) <= fleet_cols, (table, set(spec["columns"]) - fleet_cols)
        assert set(spec["platforms"]) <= set(fleet[table]["platforms"]), table
    for name in postern:
        assert name not in fleet, f"{name} clashes with an osquery core table"
    db = sqlite_with_schema(postern, core)
    for source, qname, sql, platform in all_queries():
        for table, column in tables_and_columns(db, sql):
            if table in postern:
                continue
            assert column in {c["name"] for c in fleet[table]["columns"]}, (source, qname, table, column)
            assert platforms_of(platform) <= set(fleet[table]["platforms"]), (qname, table)


def test_the_loaded_label_and_coverage_policy_tell_hosts_apart():
    """Passes only where every postern table is registered and active: a host
    where the extension is absent, or registered but dropped, fails."""
    label = load_yaml("labels.yml")[0]["query"]
    coverage = [p for p in load_yaml("policies.yml") if p["name"] == "postern: extension loaded"][0]["query"]
    assert label == coverage
    tables = sorted(postern_schema())

    def rows(registry):
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE osquery_registry (registry TEXT, name TEXT, owner_uuid INTEGER, "
                   "internal INTEGER, active INTEGER)")
        db.executemany("INSERT INTO osquery_registry VALUES (?, ?, 0, 0, ?)", registry)
        return db.execute(label).fetchall()

    core = [("table", "processes", 1), ("config", "filesystem", 1)]
    assert rows(core + [("table", t, 1) for t in tables]) == [(1,)]
    assert rows(core) == []
    assert rows(core + [("table", t, 1) for t in tables[1:]]) == []
    assert rows(core + [("table", t, int(t != tables[0])) for t in tables]) == []
