//! macOS controls read from files: application firewall, Gatekeeper,
//! automatic updates, Remote Login, FileVault, MDM enrollment.

use super::*;

/// Whether a launchd job is enabled according to the overrides database.
pub(super) fn macos_override_enabled(facts: &Facts<'_>, label: &str) -> Result<bool, String> {
    match facts.plist(paths::LAUNCHD_OVERRIDES)? {
        None => Ok(false),
        Some(v) => Ok(v
            .as_dictionary()
            .and_then(|d| d.get(label))
            .and_then(|v| v.as_dictionary())
            .and_then(|d| d.get("Disabled"))
            .and_then(|v| v.as_boolean())
            == Some(false)),
    }
}

pub(super) fn plist_get<'v>(v: &'v plist::Value, key: &str) -> Option<&'v plist::Value> {
    v.as_dictionary().and_then(|d| d.get(key))
}

pub(super) fn macos_firewall(facts: &Facts<'_>) -> Check {
    match facts.plist(paths::ALF_PLIST) {
        Ok(Some(v)) => match plist_get(&v, "globalstate").and_then(|g| g.as_unsigned_integer()) {
            Some(s @ (1 | 2)) => Check::new(
                "macos_firewall",
                Status::Pass,
                format!("application firewall on (globalstate {s})"),
            )
            .states(None, None, Some(true)),
            Some(0) => Check::new(
                "macos_firewall",
                Status::Fail,
                "application firewall off (globalstate 0)",
            )
            .states(None, None, Some(false)),
            other => Check::new(
                "macos_firewall",
                Status::Unknown,
                format!("com.apple.alf globalstate is {other:?}"),
            ),
        },
        Ok(None) => Check::new(
            "macos_firewall",
            Status::Unknown,
            format!("{} is absent", paths::ALF_PLIST),
        ),
        Err(e) => Check::new("macos_firewall", Status::Unknown, e),
    }
}

pub(super) fn gatekeeper(facts: &Facts<'_>) -> Check {
    match facts.plist(paths::GATEKEEPER_PLIST) {
        Ok(Some(v)) => match plist_get(&v, "enabled").and_then(|e| e.as_string()) {
            Some("yes") => Check::new("gatekeeper", Status::Pass, "Gatekeeper assessments enabled")
                .states(None, None, Some(true)),
            Some("no") => Check::new(
                "gatekeeper",
                Status::Fail,
                "Gatekeeper assessments disabled",
            )
            .states(None, None, Some(false)),
            other => Check::new(
                "gatekeeper",
                Status::Unknown,
                format!("SystemPolicy-prefs enabled is {other:?}"),
            ),
        },
        Ok(None) => Check::new(
            "gatekeeper",
            Status::Unknown,
            format!("{} is absent", paths::GATEKEEPER_PLIST),
        ),
        Err(e) => Check::new("gatekeeper", Status::Unknown, e),
    }
}

pub(super) fn macos_auto_updates(facts: &Facts<'_>) -> Check {
    let managed = format!(
        "{}/com.apple.SoftwareUpdate.plist",
        paths::MANAGED_PREFERENCES
    );
    let mut values: BTreeMap<&str, bool> = BTreeMap::new();
    for path in [managed.as_str(), paths::SOFTWARE_UPDATE_PLIST] {
        match facts.plist(path) {
            Ok(Some(v)) => {
                for key in [
                    "AutomaticCheckEnabled",
                    "AutomaticDownload",
                    "CriticalUpdateInstall",
                ] {
                    if let Some(b) = plist_get(&v, key).and_then(|b| b.as_boolean()) {
                        values.entry(key).or_insert(b);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => return Check::new("macos_auto_updates", Status::Unknown, e),
        }
    }
    if values.is_empty() {
        return Check::new(
            "macos_auto_updates",
            Status::Unknown,
            "no Software Update preferences found",
        );
    }
    let desc: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let all = [
        "AutomaticCheckEnabled",
        "AutomaticDownload",
        "CriticalUpdateInstall",
    ]
    .iter()
    .all(|k| values.get(k) == Some(&true));
    let status = if all {
        Status::Pass
    } else if values.get("AutomaticCheckEnabled") == Some(&false) {
        Status::Fail
    } else {
        Status::Degraded
    };
    Check::new("macos_auto_updates", status, desc.join(", ")).states(None, None, Some(all))
}

pub(super) fn remote_login(facts: &Facts<'_>) -> Check {
    match macos_override_enabled(facts, paths::MACOS_SSHD_LABEL) {
        Ok(true) => Check::new(
            "remote_login",
            Status::Fail,
            "Remote Login is on (com.openssh.sshd enabled in launchd overrides)",
        )
        .states(None, None, Some(true)),
        Ok(false) => Check::new("remote_login", Status::Pass, "Remote Login is off").states(
            None,
            None,
            Some(false),
        ),
        Err(e) => Check::new("remote_login", Status::Unknown, e),
    }
}

pub(super) fn filevault(facts: &Facts<'_>) -> Check {
    if facts.root.exists(paths::FILEVAULT_PRK) {
        Check::new(
            "filevault",
            Status::Pass,
            format!(
                "{} exists: FileVault has been turned on",
                paths::FILEVAULT_PRK
            ),
        )
        .states(None, None, Some(true))
    } else {
        Check::new(
            "filevault",
            Status::Unknown,
            "no file on disk tells FileVault's state; use osquery's disk_encryption table",
        )
    }
}

pub(super) fn mdm_enrollment(facts: &Facts<'_>) -> Check {
    if facts.root.exists(paths::MDM_CLOUD_CONFIG) {
        return Check::new(
            "mdm_enrollment",
            Status::Pass,
            "a cloud configuration (Automated Device Enrollment) profile is installed",
        )
        .states(Some(true), None, Some(true));
    }
    let managed = facts
        .root
        .list_dir(paths::MANAGED_PREFERENCES, 64)
        .unwrap_or_default();
    if !managed.is_empty() {
        return Check::new(
            "mdm_enrollment",
            Status::Pass,
            format!("managed preferences are installed ({})", managed.join(", ")),
        )
        .states(Some(true), None, Some(true));
    }
    Check::new(
        "mdm_enrollment",
        Status::Unknown,
        "no enrollment marker or managed preferences found; use osquery's mdm table",
    )
}
