//! osquery itself, postern's policy and its enrollment baseline.

use super::*;

pub(super) fn osquery(facts: &Facts<'_>) -> Check {
    let running = facts.processes_known.then(|| facts.running("osqueryd"));
    let db = facts.root.exists(paths::OSQUERY_DB);
    let installed = running == Some(true)
        || db
        || facts.package("osquery").is_some()
        || facts.root.exists(paths::OSQUERY_OPT);
    let status = match (installed, running, db) {
        (false, _, _) => Status::Fail,
        (true, Some(true) | None, true) => Status::Pass,
        _ => Status::Degraded,
    };
    let evidence = format!(
        "osqueryd {}; database {} {}",
        match running {
            Some(true) => "is running",
            Some(false) => "is not running",
            None => "process state unknown (no /proc)",
        },
        paths::OSQUERY_DB,
        if db { "exists" } else { "is missing" }
    );
    let mut c = Check::new("osquery", status, evidence).states(Some(installed), running, None);
    c.version = facts.package("osquery").and_then(|p| p.version.clone());
    c
}

pub(super) fn postern_policy(ctx: &GenerateContext<'_>) -> Check {
    let p = ctx.policy;
    let (status, evidence) = match &p.state {
        PolicyState::Loaded => (Status::Pass, p.describe()),
        PolicyState::Missing => (Status::Fail, p.describe()),
        PolicyState::Invalid(_) | PolicyState::Refused(_) => (Status::Fail, p.describe()),
        PolicyState::Unreadable(_) => (Status::Unknown, p.describe()),
    };
    let mut c = Check::new("postern_policy", status, evidence).states(
        Some(!matches!(p.state, PolicyState::Missing)),
        None,
        None,
    );
    c.version = Some(env!("CARGO_PKG_VERSION").to_string());
    c
}

pub(super) fn postern_baseline(ctx: &GenerateContext<'_>) -> Check {
    use crate::baseline::BaselineError;
    match ctx.state.load() {
        Ok(b) => Check::new(
            "postern_baseline",
            Status::Pass,
            format!(
                "baseline of {} items recorded at {}, digest {}",
                b.items.len(),
                b.created,
                b.digest
            ),
        )
        .states(Some(true), None, None),
        // Not a damaged baseline: postern cannot read it (run as a user,
        // say). Recording a new one would be the wrong advice.
        Err(e @ BaselineError::Io(_)) => {
            Check::new("postern_baseline", Status::Unknown, e.to_string()).fix(
                "Run postern as root (osquery runs extensions as root): the baseline is root's and others cannot read it; if root cannot either, check the state directory's permissions.",
            )
        }
        Err(e @ BaselineError::Untrusted(_)) => {
            Check::new("postern_baseline", Status::Fail, e.to_string())
                .fix("Find out who changed the baseline's owner or mode, then record a new one with postern baseline init --force.")
                .states(Some(false), None, None)
        }
        Err(e) => Check::new("postern_baseline", Status::Fail, e.to_string()).states(
            Some(false),
            None,
            None,
        ),
    }
}
