//! SSH server hardening: root login and password authentication, from
//! sshd_config and the files it includes.

use super::*;

pub(super) fn ssh(facts: &Facts<'_>, control: &'static str) -> Check {
    let sshd_running = facts.running("sshd");
    match facts.platform {
        Platform::MacOs => match macos_override_enabled(facts, paths::MACOS_SSHD_LABEL) {
            Ok(true) => {}
            Ok(false) => {
                return Check::new(control, Status::NotApplicable, "Remote Login (sshd) is off")
            }
            Err(e) => return Check::new(control, Status::Unknown, e),
        },
        Platform::Linux => {
            let installed = sshd_running
                || facts.package("openssh-server").is_some()
                || facts.root.exists(paths::SSHD_CONFIG);
            if !installed {
                return Check::new(control, Status::NotApplicable, "no SSH server is installed")
                    .states(Some(false), Some(false), None);
            }
        }
    }
    let trusted = |p: &str| facts.root.check_trusted(p);
    let config = match config::read_sshd_config(facts.root, &trusted) {
        Ok(c) => c,
        Err(e) => {
            return Check::new(
                control,
                Status::Unknown,
                format!("cannot tell the sshd settings: {e}"),
            )
            .states(Some(true), Some(sshd_running), None)
        }
    };
    let (key, default, good): (&str, &str, &[&str]) = if control == "ssh_root_login" {
        (
            "permitrootlogin",
            "prohibit-password",
            &[
                "no",
                "prohibit-password",
                "without-password",
                "forced-commands-only",
            ],
        )
    } else {
        ("passwordauthentication", "yes", &["no"])
    };
    let (value, origin) = match config.settings.get(key) {
        Some(v) => (v.to_ascii_lowercase(), "set"),
        None => (default.to_string(), "default"),
    };
    let mut status = if good.contains(&value.as_str()) {
        Status::Pass
    } else {
        Status::Fail
    };
    let mut evidence = format!(
        "{} is {value} ({origin}) in {}",
        if control == "ssh_root_login" {
            "PermitRootLogin"
        } else {
            "PasswordAuthentication"
        },
        config.files.join(", ")
    );
    if !config.problems.is_empty() {
        evidence.push_str(&format!("; problems: {}", config.problems.join("; ")));
        // A setting in a file that could not be trusted, read or parsed may
        // be the one sshd uses: postern cannot tell either way.
        status = Status::Unknown;
    }
    Check::new(control, status, evidence).states(Some(true), Some(sshd_running), None)
}
