"""Time to resolve from postern's result logs with DuckDB (read_json + SQL),
computed as `postern report` computes it; for scripts/bench_report.py.

    python report_ttr_duckdb.py [--line-exact] FILE   # the figures as one JSON line

Same rules as report_ttr.jq: lines that are not JSON are skipped; a
control (with its product) resolves at the first `pass` after a `fail` or
`degraded`, from the first of those; a remote access tool from the added row
that opens it on a host to the removed row that leaves none open; count,
median and 90th percentile (nearest rank) in seconds.
"""

import json
import sys

import duckdb

ROW = "STRUCT(control VARCHAR, product VARCHAR, status VARCHAR, tool_id VARCHAR)"

COLUMNS = (
    f"{{name: 'VARCHAR', hostIdentifier: 'VARCHAR', unixTime: 'BIGINT', action: 'VARCHAR', "
    f"columns: '{ROW}', snapshot: '{ROW}[]', diffResults: 'STRUCT(added {ROW}[], removed {ROW}[])'}}"
)
# As the benchmark asks: DuckDB's own JSON reader. It reads a truncated line
# together with the next one and drops both (ignore_errors).
READ_JSON = f"SELECT * FROM read_json(?, format = 'newline_delimited', ignore_errors = true, columns = {COLUMNS})"
# Line-exact: every line on its own (a delimiter that valid JSON cannot hold
# unescaped), parsed by DuckDB's JSON functions; invalid lines dropped.
JSON_TYPE = (
    '{"name": "VARCHAR", "hostIdentifier": "VARCHAR", "unixTime": "BIGINT", "action": "VARCHAR", '
    + ", ".join(
        f'"{k}": {v}'
        for k, v in [
            ("columns", '{"control": "VARCHAR", "product": "VARCHAR", "status": "VARCHAR", "tool_id": "VARCHAR"}'),
            ("snapshot", '[{"control": "VARCHAR", "product": "VARCHAR", "status": "VARCHAR", "tool_id": "VARCHAR"}]'),
            ("diffResults", '{"added": [{"control": "VARCHAR", "product": "VARCHAR", "status": "VARCHAR", "tool_id": "VARCHAR"}], '
             '"removed": [{"control": "VARCHAR", "product": "VARCHAR", "status": "VARCHAR", "tool_id": "VARCHAR"}]}'),
        ]
    )
    + "}"
)
LINES = (
    "SELECT unnest(v) FROM (SELECT try(json_transform(j, '" + JSON_TYPE + "')) AS v "
    "FROM read_csv(?, columns = {'j': 'VARCHAR'}, header = false, delim = chr(31), quote = '', "
    "escape = '', auto_detect = false, strict_mode = false)) WHERE v IS NOT NULL"
)

SQL = f"""
WITH raw AS (
    SELECT row_number() OVER () AS line, * FROM ({{source}})
    WHERE name IS NOT NULL AND hostIdentifier IS NOT NULL AND unixTime IS NOT NULL
), named AS (
    SELECT *, regexp_replace(name, '^.*/', '') AS q FROM raw
), events AS (
    SELECT line, 1 AS sub, q, hostIdentifier AS h, unixTime AS t, action AS a, columns AS r
    FROM named WHERE columns IS NOT NULL
    UNION ALL
    SELECT line, 1, q, hostIdentifier, unixTime, 'snapshot', unnest(snapshot)
    FROM named WHERE snapshot IS NOT NULL
    UNION ALL
    SELECT line, 0, q, hostIdentifier, unixTime, 'removed', unnest(diffResults.removed)
    FROM named WHERE diffResults IS NOT NULL
    UNION ALL
    SELECT line, 1, q, hostIdentifier, unixTime, 'added', unnest(diffResults.added)
    FROM named WHERE diffResults IS NOT NULL
), controls AS (
    SELECT line, sub, t, r.status AS s,
           r.control || CASE WHEN coalesce(r.product, '') <> '' THEN ':' || r.product ELSE '' END AS c,
           h
    FROM events
    WHERE q IN ('postern_control_status', 'postern_control_failures', 'postern_control_snapshot')
      AND a <> 'removed' AND coalesce(r.control, '') <> '' AND coalesce(r.status, '') <> ''
), control_groups AS (
    -- A group: the results of one host's control up to and including a pass.
    SELECT *, coalesce(sum(CASE WHEN s = 'pass' THEN 1 ELSE 0 END) OVER (
               PARTITION BY h, c ORDER BY line, sub
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS g
    FROM controls
), control_resolved AS (
    SELECT c, min(t) FILTER (WHERE s = 'pass') - min(t) FILTER (WHERE s IN ('fail', 'degraded')) AS d
    FROM control_groups GROUP BY h, c, g
), tools AS (
    SELECT line, sub, t, a, h || chr(0) || coalesce(r.tool_id, '') AS k,
           sum(CASE a WHEN 'added' THEN 1 WHEN 'removed' THEN -1 ELSE 0 END) OVER (
               PARTITION BY h, r.tool_id ORDER BY line, sub) AS n
    FROM events WHERE q = 'postern_remote_access_unapproved' AND a IN ('added', 'removed')
), tool_episodes AS (
    SELECT *, sum(CASE WHEN a = 'added' AND n = 1 THEN 1 ELSE 0 END) OVER (
               PARTITION BY k ORDER BY line, sub) AS e
    FROM tools
), tool_resolved AS (
    SELECT min(t) FILTER (WHERE a = 'removed' AND n = 0) - min(t) FILTER (WHERE a = 'added' AND n = 1) AS d
    FROM tool_episodes GROUP BY k, e
), durations AS (
    SELECT c AS what, d FROM control_resolved WHERE d IS NOT NULL
    UNION ALL
    SELECT chr(0) || 'remote_access', d FROM tool_resolved WHERE d IS NOT NULL
), stats AS (
    SELECT what, count(*) AS n, list_sort(list(d)) AS v FROM durations GROUP BY what
    UNION ALL
    SELECT chr(0) || 'overall', count(*), list_sort(list(d)) FROM durations
)
SELECT what, n, v[greatest(ceil(0.5 * n), 1)::BIGINT], v[greatest(ceil(0.9 * n), 1)::BIGINT]
FROM stats
"""


def main(path, exact=False):
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    out = {"controls": {}, "remote_access": {"count": 0, "median_s": None, "p90_s": None},
           "overall": {"count": 0, "median_s": None, "p90_s": None}}
    for what, n, median, p90 in con.execute(SQL.replace("{source}", LINES if exact else READ_JSON), [path]).fetchall():
        figures = {"count": n, "median_s": median, "p90_s": p90}
        if what == "\0remote_access":
            out["remote_access"] = figures
        elif what == "\0overall":
            out["overall"] = figures
        else:
            out["controls"][what] = figures
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[-1], exact="--line-exact" in sys.argv[1:-1])
