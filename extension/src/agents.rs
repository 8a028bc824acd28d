//! The security agent catalog: EDR, anti-malware, forensics and telemetry
//! agents with the indicators that tell whether each is installed, running,
//! enabled at boot and healthy (`extension/catalog/security_agents/*.json`,
//! schema in `docs/CATALOG_SCHEMA.md`), for `security_control_health`.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::catalog::CatalogError;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    Edr,
    Antivirus,
    Dfir,
    Telemetry,
}

impl AgentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Edr => "edr",
            AgentKind::Antivirus => "antivirus",
            AgentKind::Dfir => "dfir",
            AgentKind::Telemetry => "telemetry",
        }
    }

    /// Kinds that count as endpoint protection for the aggregate `edr` control.
    pub fn protects(self) -> bool {
        matches!(self, AgentKind::Edr | AgentKind::Antivirus)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusFile {
    pub path: String,
    pub max_age_hours: u32,
    pub meaning: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentIndicators {
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub process_names: Vec<String>,
    /// systemd units (Linux), Windows services.
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub bundle_ids: Vec<String>,
    /// launchd labels (macOS).
    #[serde(default)]
    pub launchd: Vec<String>,
    #[serde(default)]
    pub programs: Vec<String>,
    #[serde(default)]
    pub status_files: Vec<StatusFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub vendor: String,
    pub kind: AgentKind,
    #[serde(default)]
    pub description: Option<String>,
    pub references: Vec<String>,
    #[serde(default)]
    pub linux: AgentIndicators,
    #[serde(default)]
    pub macos: AgentIndicators,
    #[serde(default)]
    pub windows: AgentIndicators,
}

#[derive(Debug, Default)]
pub struct AgentCatalog {
    pub agents: Vec<Agent>,
}

const AGENT_LISTING_COLUMNS: &[crate::table::Column] = &[
    crate::table::Column::new(
        "id",
        crate::table::ColumnType::Text,
        "Agent id, as used in the policy's edr.required_any.",
    ),
    crate::table::Column::new("name", crate::table::ColumnType::Text, "Product name."),
    crate::table::Column::new("vendor", crate::table::ColumnType::Text, "Vendor."),
    crate::table::Column::new(
        "kind",
        crate::table::ColumnType::Text,
        "edr, antivirus, dfir or telemetry.",
    ),
];

impl AgentCatalog {
    /// The agents as rows, for `postern catalog --agents`.
    pub fn listing(&self) -> (&'static [crate::table::Column], Vec<crate::table::Row>) {
        let rows = self
            .agents
            .iter()
            .map(|a| {
                vec![
                    Some(a.id.clone()),
                    Some(a.name.clone()),
                    Some(a.vendor.clone()),
                    Some(a.kind.as_str().to_string()),
                ]
            })
            .collect();
        (AGENT_LISTING_COLUMNS, rows)
    }

    pub fn from_sources(sources: &[(&str, &str)]) -> Result<AgentCatalog, CatalogError> {
        let mut problems = Vec::new();
        let mut agents: Vec<Agent> = Vec::new();
        for (file, text) in sources {
            match serde_json::from_str::<Vec<Agent>>(text) {
                Ok(mut parsed) => agents.append(&mut parsed),
                Err(e) => problems.push(format!("{file}: {e}")),
            }
        }
        let mut ids = BTreeSet::new();
        for a in &agents {
            if !ids.insert(a.id.as_str()) {
                problems.push(format!("agent id {:?} appears twice", a.id));
            }
            if a.id.is_empty()
                || !a
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                problems.push(format!("agent id {:?} must match [a-z0-9_]+", a.id));
            }
            if a.references.is_empty() {
                problems.push(format!("{}: references is empty", a.id));
            }
            for ind in [&a.linux, &a.macos] {
                for p in ind
                    .paths
                    .iter()
                    .chain(ind.status_files.iter().map(|s| &s.path))
                {
                    if !p.starts_with('/') {
                        problems.push(format!("{}: path {p:?} is not absolute", a.id));
                    }
                }
                for s in &ind.status_files {
                    if s.max_age_hours == 0 {
                        problems.push(format!(
                            "{}: status file {} has max_age_hours 0",
                            a.id, s.path
                        ));
                    }
                }
            }
            for unit in &a.linux.services {
                if !unit.contains('.') {
                    problems.push(format!("{}: systemd unit {unit:?} has no suffix", a.id));
                }
            }
        }
        if problems.is_empty() {
            Ok(AgentCatalog { agents })
        } else {
            Err(CatalogError(problems))
        }
    }

    pub fn embedded() -> Result<&'static AgentCatalog, &'static CatalogError> {
        static CATALOG: LazyLock<Result<AgentCatalog, CatalogError>> =
            LazyLock::new(|| AgentCatalog::from_sources(crate::catalog::embedded::SECURITY_AGENTS));
        CATALOG.as_ref()
    }

    pub fn get(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_agent_catalog_is_valid() {
        let c = AgentCatalog::embedded().unwrap();
        assert!(c.agents.len() >= 18, "{}", c.agents.len());
        for id in [
            "crowdstrike_falcon",
            "sentinelone",
            "microsoft_defender",
            "elastic_agent",
            "sophos",
            "trend_micro",
            "carbon_black",
            "cortex_xdr",
            "tanium",
            "rapid7_insight",
            "qualys",
            "wazuh",
            "cisco_secure_endpoint",
            "eset",
            "bitdefender",
            "clamav",
            "velociraptor",
            "osquery",
        ] {
            assert!(c.get(id).is_some(), "agent catalog lacks {id}");
        }
    }

    #[test]
    fn invalid_agent_catalogs_are_refused() {
        let bad = r#"[{"id":"x","name":"n","vendor":"v","kind":"edr","references":[],
            "linux":{"paths":["relative"],"services":["nosuffix"],"status_files":[{"path":"/a","max_age_hours":0,"meaning":"m"}]}},
            {"id":"x","name":"n","vendor":"v","kind":"edr","references":["https://x"]}]"#;
        let err = AgentCatalog::from_sources(&[("bad.json", bad)])
            .err()
            .unwrap()
            .to_string();
        for needle in [
            "references is empty",
            "\"relative\"",
            "nosuffix",
            "max_age_hours 0",
            "appears twice",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert!(AgentCatalog::from_sources(&[(
            "k.json",
            r#"[{"id":"x","name":"n","vendor":"v","kind":"magic","references":["https://x"]}]"#
        )])
        .is_err());
    }
}
