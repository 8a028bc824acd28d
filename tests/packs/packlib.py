"""Shared loading for the pack checks."""

import json
import os
import sqlite3
import subprocess


HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FLEET_SCHEMA = os.path.join(REPO, "..", "shared", "osquery-schema", "osquery_fleet_schema.json")
POSTERN_TABLES = {"remote_access_tools", "security_control_health", "new_software_since_enrollment"}


def postern_bin():
    return os.environ.get("POSTERN_BIN") or os.path.join(REPO, "target", "debug", "postern")


def postern_schema():
    out = subprocess.run([postern_bin(), "tables", "--format", "json"], check=True, capture_output=True, text=True)
    return {t["name"]: t for t in json.loads(out.stdout)}


def core_schema():
    with open(os.path.join(HERE, "core_tables.json")) as f:
        return json.load(f)["tables"]


def load_packs():
    packs = {}
    for name in sorted(os.listdir(os.path.join(REPO, "packs"))):
        if name.endswith(".conf"):
            with open(os.path.join(REPO, "packs", name)) as f:
                packs[name] = json.load(f)
    return packs


def load_yaml(name):
    import yaml

    with open(os.path.join(REPO, "fleet", name)) as f:
        return yaml.safe_load(f)


def all_queries():
    """(source, name, sql, platform) of every pack query, report and policy."""
    out = []
    for pack_name, pack in load_packs().items():
        for qname, q in pack["queries"].items():
            out.append((pack_name, qname, q["query"], q.get("platform", pack.get("platform", "all"))))
        for sql in pack.get("discovery", []):
            out.append((pack_name, "discovery", sql, pack.get("platform", "all")))
    for r in load_yaml("reports.yml"):
        out.append(("fleet/reports.yml", r["name"], r["query"], r["platform"]))
    for p in load_yaml("policies.yml"):
        out.append(("fleet/policies.yml", p["name"], p["query"], p["platform"]))
    for label in load_yaml("labels.yml"):
        out.append(("fleet/labels.yml", label["name"], label["query"], "all"))
    return out


def sqlite_with_schema(postern, core):
    """An in-memory database with every table the packs may read."""
    db = sqlite3.connect(":memory:")
    for name, table in core.items():
        cols = ", ".join(f'"{c}" {t}' for c, t in table["columns"].items())
        db.execute(f'CREATE TABLE "{name}" ({cols})')
    for name, table in postern.items():
        cols = ", ".join(f'"{c["name"]}" {c["type"]}' for c in table["columns"])
        db.execute(f'CREATE TABLE "{name}" ({cols})')
    return db


def tables_and_columns(db, sql):
    """The (table, column) pairs a statement reads, from SQLite's authorizer."""
    reads = set()

    def authorizer(action, arg1, arg2, _db, _trigger):
        if action == sqlite3.SQLITE_READ and arg1:
            reads.add((arg1, arg2))
        return sqlite3.SQLITE_OK

    db.set_authorizer(authorizer)
    try:
        db.execute("EXPLAIN " + sql)
    finally:
        db.set_authorizer(None)
    return reads


def enabled_extensions():
    """fleet/agent-options.yml's extensions with the commented-out targets
    (to enable once published) enabled."""
    import yaml

    with open(os.path.join(REPO, "fleet", "agent-options.yml")) as f:
        lines = f.read().splitlines()
    enabled = [l.replace("# ", "", 1) if l.startswith("  # postern") or l.startswith("  #   ") else l
               for l in lines]
    return yaml.safe_load("\n".join(enabled))["extensions"]
