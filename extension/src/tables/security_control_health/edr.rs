//! EDR, antivirus and telemetry agents: one `edr_agent` row per agent
//! found (installed, running, enabled at boot, status files fresh) and the
//! aggregate `edr` row the policy requires.

use super::*;

/// One agent's state on this host; `None` when it is not there at all.
pub(super) fn agent_check(facts: &Facts<'_>, agent: &Agent) -> Option<Check> {
    let ind: &AgentIndicators = match facts.platform {
        Platform::Linux => &agent.linux,
        Platform::MacOs => &agent.macos,
    };
    let mut evidence = Vec::new();
    let package = ind.packages.iter().find_map(|p| facts.package(p));
    let bundle = facts
        .bundles
        .iter()
        .find(|b| ind.bundle_ids.contains(&b.bundle_id));
    let path = ind.paths.iter().find(|p| facts.root.exists(p));
    let installed = package.is_some() || bundle.is_some() || path.is_some();
    if let Some(p) = package {
        evidence.push(format!(
            "{} package {} {}",
            p.source,
            p.name,
            p.version.as_deref().unwrap_or("")
        ));
    } else if let Some(b) = bundle {
        evidence.push(format!("app bundle {} ({})", b.path, b.bundle_id));
    } else if let Some(p) = path {
        evidence.push(format!("{p} exists"));
    }
    let running_name = facts.running_any(&ind.process_names);
    let running = running_name.map(|n| n.is_some());
    if !installed && running != Some(true) {
        return None;
    }
    match running_name {
        Some(Some(n)) => evidence.push(format!("process {n} running")),
        Some(None) if !ind.process_names.is_empty() => evidence.push(format!(
            "no {} process running",
            ind.process_names.join("/")
        )),
        None => evidence.push("processes are not readable from files on this platform".into()),
        Some(None) => {}
    }
    let units: Vec<&String> = ind.services.iter().chain(&ind.launchd).collect();
    let enabled = if units.is_empty() {
        None
    } else {
        let on = units.iter().find(|u| facts.unit_enabled(u));
        match on {
            Some(u) => evidence.push(format!("{u} enabled at boot")),
            None => evidence.push(format!(
                "{} not enabled at boot",
                units
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join("/")
            )),
        }
        Some(on.is_some())
    };
    // Health: the freshest of the status files the agent rewrites.
    let mut healthy = None;
    let mut freshest: Option<(i64, &str, u32)> = None;
    for sf in &ind.status_files {
        if let Some(m) = facts.mtime(&sf.path) {
            if freshest.is_none_or(|(t, _, _)| m > t) {
                freshest = Some((m, &sf.path, sf.max_age_hours));
            }
        }
    }
    if let Some((mtime, path, max_hours)) = freshest {
        let age_hours = (facts.now - mtime).max(0) / 3600;
        let fresh = facts.now - mtime <= i64::from(max_hours) * 3600;
        healthy = Some(fresh);
        evidence.push(format!(
            "{path} last updated {age_hours} h ago ({} the {max_hours} h limit)",
            if fresh { "within" } else { "past" }
        ));
    } else if !ind.status_files.is_empty() {
        evidence.push("no status file found to judge freshness".into());
    }
    let status = if installed
        && running != Some(false)
        && enabled != Some(false)
        && healthy != Some(false)
    {
        Status::Pass
    } else {
        Status::Degraded
    };
    let version = package
        .and_then(|p| p.version.clone())
        .or_else(|| bundle.and_then(|b| b.version.clone()));
    let mut check = Check::new(
        "edr_agent",
        status,
        format!("{}: {}", agent.name, evidence.join("; ")),
    )
    .states(Some(installed), running, enabled);
    check.product = Some(agent.id.clone());
    check.version = version;
    // Since when: passing, since its process started; its status file gone
    // stale, since it crossed the limit; stopped, since the status file was
    // last written (its last sign of life), else since boot when it is not
    // enabled at boot (it has not run since).
    let names: Vec<&str> = ind.process_names.iter().map(String::as_str).collect();
    let last_sign = freshest.map(|(mtime, _, _)| mtime);
    check.since = if status == Status::Pass {
        (running == Some(true))
            .then(|| facts.started(&names))
            .flatten()
    } else if running == Some(false) {
        last_sign.or_else(|| {
            (enabled == Some(false))
                .then(|| facts.boot_time())
                .flatten()
        })
    } else if healthy == Some(false) {
        freshest.map(|(mtime, _, hours)| mtime + i64::from(hours) * 3600)
    } else {
        None
    };
    Some(check)
}

pub(super) fn edr_checks(facts: &Facts<'_>, ctx: &GenerateContext<'_>) -> Vec<Check> {
    let agents = match AgentCatalog::embedded() {
        Ok(a) => a,
        Err(e) => return vec![Check::new("edr", Status::Unknown, e.to_string())],
    };
    let mut rows: Vec<Check> = agents
        .agents
        .iter()
        .filter_map(|a| agent_check(facts, a))
        .collect();
    let required = &ctx.policy.policy.edr_required_any;
    let counts = |c: &Check| {
        let id = c.product.as_deref().unwrap_or("");
        if required.is_empty() {
            agents.get(id).is_some_and(|a| a.kind.protects())
        } else {
            required.contains(id)
        }
    };
    let candidates: Vec<&Check> = rows.iter().filter(|c| counts(c)).collect();
    let wanted = if required.is_empty() {
        "an EDR or anti-malware agent".to_string()
    } else {
        format!(
            "one of {}",
            required.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    // Say "required" only when the policy requires it (the `required`
    // column says the same).
    let is_required = ctx.policy.policy.required_controls.contains("edr") || !required.is_empty();
    let need = if is_required {
        format!("{wanted} is required")
    } else {
        format!("{wanted} is expected (the policy does not require one)")
    };
    let healthy: Vec<&str> = candidates
        .iter()
        .filter(|c| c.status == Status::Pass)
        .filter_map(|c| c.product.as_deref())
        .collect();
    // Passing since the first healthy agent started; degraded since the
    // last one broke (when every broken agent says when).
    let since_pass = candidates
        .iter()
        .filter(|c| c.status == Status::Pass)
        .filter_map(|c| c.since)
        .min();
    let since_broken: Option<Vec<i64>> = candidates.iter().map(|c| c.since).collect();
    let mut aggregate = if !healthy.is_empty() {
        Check::new(
            "edr",
            Status::Pass,
            format!("{wanted} is healthy: {}", healthy.join(", ")),
        )
        .states(Some(true), Some(true), Some(true))
    } else if !candidates.is_empty() {
        let broken: Vec<&str> = candidates
            .iter()
            .filter_map(|c| c.product.as_deref())
            .collect();
        Check::new(
            "edr",
            Status::Degraded,
            format!("{need}; found but not healthy: {}", broken.join(", ")),
        )
        .states(
            Some(true),
            Some(candidates.iter().any(|c| c.running == Some(true))),
            None,
        )
    } else {
        let others: Vec<&str> = rows.iter().filter_map(|c| c.product.as_deref()).collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!(" (other agents present: {})", others.join(", "))
        };
        Check::new(
            "edr",
            Status::Fail,
            format!("{need} and none is installed{also}"),
        )
        .states(Some(false), Some(false), Some(false))
    };
    aggregate.since = match aggregate.status {
        Status::Pass => since_pass,
        Status::Degraded => since_broken.and_then(|v| v.into_iter().max()),
        _ => None,
    };
    rows.insert(0, aggregate);
    rows
}
