# Time to resolve from postern's result logs, computed as `postern report`
# computes it, for the report benchmark (scripts/bench_report.py):
#
#   jq -n -R -c -f scripts/bench/report_ttr.jq FILE
#
# Lines that are not JSON are skipped. Controls: a host's control (with its
# product, when it has one) is resolved at the first `pass` after a `fail` or
# `degraded`, from the first of those. Remote access tools: from the added row
# that opens a tool on a host to the removed row that leaves none open.
# Durations: count, median and 90th percentile (nearest rank), in seconds.
def stats: sort | length as $n
  | if $n == 0 then {count: 0, median_s: null, p90_s: null}
    else {count: $n,
          median_s: .[([(0.5 * $n | ceil), 1] | max) - 1],
          p90_s: .[([(0.9 * $n | ceil), 1] | max) - 1]}
    end;
reduce (
  inputs
  | (fromjson? // empty)
  | select(type == "object" and (.name | type) == "string" and .hostIdentifier != null and .unixTime != null)
  | (.name | split("/") | last) as $q
  | select($q == "postern_control_status" or $q == "postern_control_failures"
           or $q == "postern_control_snapshot" or $q == "postern_remote_access_unapproved")
  | (.hostIdentifier | tostring) as $h
  | (.unixTime | tonumber) as $t
  | if .diffResults then
      ((.diffResults.removed // [])[] | {a: "removed", r: .}),
      ((.diffResults.added // [])[] | {a: "added", r: .})
    elif .snapshot then (.snapshot[] | {a: "snapshot", r: .})
    else {a: .action, r: .columns}
    end
  | {q: $q, h: $h, t: $t, a: .a, r: .r}
) as $e ({open: {}, done: {}, tools: {}, tdone: []};
  if $e.q == "postern_remote_access_unapproved" then
    ($e.h + "\u0000" + ($e.r.tool_id // "")) as $k
    | if $e.a == "added" then
        (if (.tools[$k].n // 0) == 0 then .tools[$k].since = $e.t else . end)
        | .tools[$k].n = (.tools[$k].n // 0) + 1
      elif $e.a == "removed" then
        .tools[$k].n = ([(.tools[$k].n // 0) - 1, 0] | max)
        | if .tools[$k].n == 0 and .tools[$k].since != null
          then .tdone += [$e.t - .tools[$k].since] | .tools[$k].since = null
          else . end
      else . end
  elif $e.a == "removed" or ($e.r.control // "") == "" or ($e.r.status // "") == "" then .
  else
    ($e.r.control + (if ($e.r.product // "") != "" then ":" + $e.r.product else "" end)) as $c
    | ($e.h + "\u0000" + $c) as $k
    | if $e.r.status == "fail" or $e.r.status == "degraded" then
        (if .open[$k] == null then .open[$k] = $e.t else . end)
      elif $e.r.status == "pass" and .open[$k] != null then
        .done[$c] += [$e.t - .open[$k]] | del(.open[$k])
      else . end
  end)
| {controls: (.done | with_entries(.value |= stats)),
   remote_access: (.tdone | stats),
   overall: ([.done[][], .tdone[]] | stats)}
