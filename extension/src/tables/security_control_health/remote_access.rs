//! Remote access controls: remote desktop services, unapproved remote
//! access tools (from `remote_access_tools`), screen sharing and remote
//! management.

use super::*;

pub(super) fn remote_access_checks(
    facts: &Facts<'_>,
    ctx: &GenerateContext<'_>,
    warnings: &mut Vec<String>,
) -> Vec<Check> {
    // The cheap evidence only: no file walk, sockets or USB here.
    let mut query = QueryContext::default();
    for kind in [
        "process",
        "package",
        "app_bundle",
        "service",
        "remote_desktop_enabled",
    ] {
        query.constraints.push(crate::table::Constraint {
            column: "evidence_type".into(),
            op: crate::table::Op::Equals,
            expr: kind.into(),
        });
    }
    let sub = GenerateContext {
        query: &query,
        ..*ctx
    };
    let out = RemoteAccessTools.generate(&sub);
    warnings.extend(out.warnings);
    let col = |row: &Row, name: &str| -> String {
        RemoteAccessTools
            .columns()
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| row.get(i))
            .and_then(|v| v.clone())
            .unwrap_or_default()
    };
    let unapproved: Vec<&Row> = out
        .rows
        .iter()
        .filter(|r| col(r, "approved") == "0")
        .collect();
    let summarise = |rows: &[&Row]| -> String {
        let mut by_tool: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in rows {
            by_tool
                .entry(format!("{} ({})", col(r, "name"), col(r, "tool_id")))
                .or_default()
                .insert(col(r, "evidence_type"));
        }
        by_tool
            .into_iter()
            .map(|(t, kinds)| format!("{t}: {}", kinds.into_iter().collect::<Vec<_>>().join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut checks = Vec::new();
    let servers: Vec<&Row> = unapproved
        .iter()
        .copied()
        .filter(|r| matches!(col(r, "category").as_str(), "vnc_server" | "rdp_server"))
        .filter(|r| {
            matches!(
                col(r, "evidence_type").as_str(),
                "process" | "remote_desktop_enabled"
            )
        })
        .collect();
    checks.push(if servers.is_empty() {
        Check::new(
            "remote_desktop_services",
            Status::Pass,
            "no unapproved VNC or RDP server is running or enabled",
        )
        .states(None, Some(false), Some(false))
    } else {
        Check::new(
            "remote_desktop_services",
            Status::Fail,
            format!("unapproved remote desktop service: {}", summarise(&servers)),
        )
        .states(
            Some(true),
            Some(servers.iter().any(|r| col(r, "evidence_type") == "process")),
            Some(
                servers
                    .iter()
                    .any(|r| col(r, "evidence_type") == "remote_desktop_enabled"),
            ),
        )
    });
    checks.push(if unapproved.is_empty() {
        Check::new("unapproved_remote_access", Status::Pass, "no unapproved remote access tool is installed or running (processes, packages, bundles, services)")
            .states(Some(false), Some(false), None)
    } else {
        Check::new("unapproved_remote_access", Status::Fail, format!("unapproved: {}", summarise(&unapproved)))
            .states(Some(true), Some(unapproved.iter().any(|r| col(r, "evidence_type") == "process")), None)
    });
    if facts.platform == Platform::MacOs {
        let approved = |id: &str| ctx.policy.is_approved(id);
        checks.push(
            match macos_override_enabled(facts, paths::MACOS_SCREEN_SHARING_LABEL) {
                Ok(true) if approved(paths::MACOS_SCREEN_SHARING_TOOL) => Check::new(
                    "screen_sharing",
                    Status::Pass,
                    "Screen Sharing is on and approved by the policy",
                )
                .states(None, None, Some(true)),
                Ok(true) => Check::new(
                    "screen_sharing",
                    Status::Fail,
                    "Screen Sharing is on (com.apple.screensharing enabled in launchd overrides)",
                )
                .states(None, None, Some(true)),
                Ok(false) => Check::new("screen_sharing", Status::Pass, "Screen Sharing is off")
                    .states(None, None, Some(false)),
                Err(e) => Check::new("screen_sharing", Status::Unknown, e),
            },
        );
        let ard = facts.root.exists(paths::ARD_ENABLED_MARKER);
        checks.push(if !ard {
            Check::new(
                "remote_management",
                Status::Pass,
                "Remote Management is off (no RemoteManagement.launchd marker)",
            )
            .states(None, None, Some(false))
        } else if approved(paths::ARD_TOOL) {
            Check::new(
                "remote_management",
                Status::Pass,
                "Remote Management is on and approved by the policy",
            )
            .states(None, None, Some(true))
        } else {
            Check::new(
                "remote_management",
                Status::Fail,
                format!(
                    "Remote Management is on ({} exists)",
                    paths::ARD_ENABLED_MARKER
                ),
            )
            .states(None, None, Some(true))
        });
    }
    checks
}
