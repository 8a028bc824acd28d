//! Control definitions for `security_control_health`: id, category,
//! platforms, severity, description and remediation, as data
//! (`extension/catalog/controls/*.json`). How each control is evaluated is
//! code, in the table module.

use std::sync::LazyLock;

use serde::Deserialize;

use crate::catalog::CatalogError;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlDef {
    pub id: String,
    pub category: String,
    pub platforms: Vec<String>,
    pub severity: String,
    pub description: String,
    pub remediation: String,
}

const CATEGORIES: &[&str] = &[
    "edr",
    "encryption",
    "firewall",
    "updates",
    "mac",
    "boot",
    "audit",
    "ssh",
    "screen_lock",
    "remote_access",
    "time",
    "osquery",
    "postern",
];

pub fn parse_definitions(sources: &[(&str, &str)]) -> Result<Vec<ControlDef>, CatalogError> {
    let mut problems = Vec::new();
    let mut defs: Vec<ControlDef> = Vec::new();
    for (file, text) in sources {
        match serde_json::from_str::<Vec<ControlDef>>(text) {
            Ok(mut d) => defs.append(&mut d),
            Err(e) => problems.push(format!("{file}: {e}")),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &defs {
        if !seen.insert(d.id.as_str()) {
            problems.push(format!("control {:?} appears twice", d.id));
        }
        if !CATEGORIES.contains(&d.category.as_str()) {
            problems.push(format!("{}: unknown category {:?}", d.id, d.category));
        }
        if !["critical", "high", "medium", "low"].contains(&d.severity.as_str()) {
            problems.push(format!("{}: unknown severity {:?}", d.id, d.severity));
        }
        if d.platforms.is_empty() || d.platforms.iter().any(|p| p != "linux" && p != "darwin") {
            problems.push(format!("{}: platforms must be linux and/or darwin", d.id));
        }
        if !d.description.ends_with('.') || !d.remediation.ends_with('.') {
            problems.push(format!(
                "{}: description and remediation are sentences ending in a period",
                d.id
            ));
        }
    }
    if problems.is_empty() {
        Ok(defs)
    } else {
        Err(CatalogError(problems))
    }
}

/// The shipped definitions.
pub fn definitions() -> Result<&'static [ControlDef], &'static CatalogError> {
    static DEFS: LazyLock<Result<Vec<ControlDef>, CatalogError>> =
        LazyLock::new(|| parse_definitions(crate::catalog::embedded::CONTROLS));
    DEFS.as_ref().map(Vec::as_slice)
}

pub fn get(id: &str) -> Option<&'static ControlDef> {
    definitions().ok()?.iter().find(|d| d.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_definitions_are_valid() {
        let defs = definitions().unwrap();
        let linux = defs
            .iter()
            .filter(|d| d.platforms.iter().any(|p| p == "linux"))
            .count();
        let mac = defs
            .iter()
            .filter(|d| d.platforms.iter().any(|p| p == "darwin"))
            .count();
        assert!(linux >= 15, "{linux} Linux controls");
        assert!(mac >= 8, "{mac} macOS controls");
    }

    #[test]
    fn bad_definitions_are_refused() {
        let bad = r#"[{"id":"a","category":"nope","platforms":["windows"],"severity":"urgent","description":"x","remediation":"y"}]"#;
        let err = parse_definitions(&[("c.json", bad)])
            .err()
            .unwrap()
            .to_string();
        for n in [
            "unknown category",
            "platforms",
            "unknown severity",
            "sentences",
        ] {
            assert!(err.contains(n), "{n}: {err}");
        }
    }
}
