//! `new_software_since_enrollment`: everything that arrived on the device
//! after it was handed over, and whether IT manages it.
//!
//! Enrollment time, in order of preference: the policy's `enrollment.time`;
//! the time postern recorded the device's baseline; an estimate from the
//! host (the creation time of osquery's database). `enrollment_source` says
//! which. A row is software that is not in the baseline, or whose install
//! time is after enrollment. Without a baseline or any enrollment time the
//! table returns no rows and says why.
//!
//! Sources are those of [`crate::inventory`]. `managed` applies the policy's
//! `software.managed` rules; `remote_access_tool` names the catalog tool
//! the software is, when it is one.

use std::os::unix::fs::MetadataExt;

use crate::baseline::{Baseline, BaselineError};
use crate::catalog::{Catalog, ToolIndex};
use crate::host::walk::SCAN_INCOMPLETE;
use crate::inventory::{self, Software};
use crate::root::{basename, paths, HostRoot};
use crate::table::{flag, text, Column, ColumnType, GenerateContext, Row, Table, TableOutput};

pub struct NewSoftwareSinceEnrollment;

const COLUMNS: &[Column] = &[
    Column::new("name", ColumnType::Text, "Package, bundle id, file or extension name (extensions as name (id))."),
    Column::new("version", ColumnType::Text, "Version when known."),
    Column::new("source", ColumnType::Text, "deb, rpm, snap, flatpak, portable, browser_extension, app, homebrew, service or autostart; scan_incomplete for a row saying that the walk of path for portable executables stopped early (name says why)."),
    Column::new("path", ColumnType::Text, "Where it was found: package database, install directory, file, bundle or browser profile."),
    Column::new("install_time", ColumnType::BigInt, "When it arrived, in Unix seconds, from the package logs, database or file times."),
    Column::new("enrollment_time", ColumnType::BigInt, "When the device was enrolled, in Unix seconds."),
    Column::new("enrollment_source", ColumnType::Text, "Where enrollment_time comes from: policy, baseline or estimate (osquery database creation)."),
    Column::new("installed_by", ColumnType::Text, "User who installed it when known (APT's Requested-By, file or profile owner)."),
    Column::new("publisher", ColumnType::Text, "Package maintainer or vendor, or the executable format of a portable file."),
    Column::new("managed", ColumnType::Integer, "1 if a software.managed rule of the policy matches it, else 0."),
    Column::new("remote_access_tool", ColumnType::Text, "Remote access catalog id when the software is a remote access tool."),
    Column::new("sha256", ColumnType::Text, "SHA-256 of a portable executable of at most 64 MiB."),
    Column::new("in_baseline", ColumnType::Integer, "1 if the enrollment baseline lists it, 0 if not, empty without a baseline."),
];

/// Where the enrollment time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrollmentSource {
    Policy,
    Baseline,
    Estimate,
}

impl EnrollmentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentSource::Policy => "policy",
            EnrollmentSource::Baseline => "baseline",
            EnrollmentSource::Estimate => "estimate",
        }
    }
}

/// The enrollment time and its source, in order of preference.
pub fn enrollment(
    policy_time: Option<i64>,
    baseline: Option<&Baseline>,
    root: &HostRoot,
) -> Option<(i64, EnrollmentSource)> {
    if let Some(t) = policy_time {
        return Some((t, EnrollmentSource::Policy));
    }
    if let Some(b) = baseline {
        return Some((b.created, EnrollmentSource::Baseline));
    }
    let meta = root.metadata(paths::OSQUERY_DB).ok()?;
    let created = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or_else(|| meta.ctime());
    Some((created, EnrollmentSource::Estimate))
}

/// The catalog tool a piece of software is, if any.
pub fn remote_access_tool(sw: &Software, catalog: &Catalog) -> Option<ToolIndex> {
    let hits: Vec<ToolIndex> = match sw.source {
        "deb" | "rpm" | "snap" | "flatpak" => catalog.by_package(&sw.name).to_vec(),
        "app" => catalog.by_bundle_id(&sw.name).to_vec(),
        "portable" => catalog.by_file_name(basename(&sw.name)),
        "service" | "autostart" => catalog.by_service(&sw.name),
        "browser_extension" => sw
            .name
            .rsplit_once(" (")
            .and_then(|(_, id)| id.strip_suffix(')'))
            .map(|id| catalog.by_browser_extension(id).to_vec())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    hits.first().copied()
}

impl Table for NewSoftwareSinceEnrollment {
    fn name(&self) -> &'static str {
        "new_software_since_enrollment"
    }

    fn description(&self) -> &'static str {
        "Software that arrived after the device was enrolled (packages, portable executables, browser extensions, apps, services), with who installed it, whether IT manages it and whether it is a remote access tool."
    }

    fn platforms(&self) -> &'static [&'static str] {
        &["linux", "darwin"]
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn generate(&self, ctx: &GenerateContext<'_>) -> TableOutput {
        let mut warnings = Vec::new();
        let baseline = match ctx.state.load() {
            Ok(b) => Some(b),
            Err(BaselineError::Missing) => None,
            Err(e) => {
                warnings.push(e.to_string());
                None
            }
        };
        let Some((enrolled, source)) = enrollment(
            ctx.policy.policy.enrollment_time,
            baseline.as_ref(),
            ctx.root,
        ) else {
            warnings.push(
                "no enrollment time: set enrollment.time in the policy or record a baseline with `postern baseline init`".into(),
            );
            return TableOutput {
                rows: Vec::new(),
                warnings,
            };
        };
        let mut incomplete = Vec::new();
        let software = inventory::collect(
            ctx.host,
            ctx.deadline,
            ctx.identity,
            &mut warnings,
            &mut incomplete,
        );
        let mut rows: Vec<Row> = Vec::new();
        for sw in software {
            let in_baseline = baseline.as_ref().map(|b| b.contains(sw.source, &sw.name));
            let after = sw.install_time.is_some_and(|t| t > enrolled);
            if !(after || in_baseline == Some(false)) {
                continue;
            }
            if !ctx.query.admits("source", sw.source) {
                continue;
            }
            let managed = ctx.policy.policy.manages(
                &sw.name,
                sw.source,
                sw.publisher.as_deref(),
                sw.path.as_deref(),
            );
            let sha256 = match (sw.source, &sw.path) {
                ("portable", Some(path)) => inventory::hash_file(ctx.root, path, ctx.identity),
                _ => sw.sha256.clone(),
            };
            let mut tool = remote_access_tool(&sw, ctx.catalog);
            if tool.is_none() && sw.source == "app" {
                // Renamed in its Info.plist: its executable's signature.
                tool = sw
                    .path
                    .as_deref()
                    .and_then(|p| crate::host::bundles::signature(ctx.root, p, None))
                    .and_then(|s| ctx.catalog.by_signature(&s).first().copied());
            }
            let tool = tool.and_then(|i| ctx.catalog.tool(i)).map(|t| t.id.clone());
            rows.push(vec![
                text(sw.name),
                sw.version,
                text(sw.source),
                sw.path,
                sw.install_time.map(|t| t.to_string()),
                Some(enrolled.to_string()),
                text(source.as_str()),
                sw.installed_by,
                sw.publisher,
                flag(managed),
                tool,
                sha256,
                in_baseline.and_then(flag),
            ]);
        }
        // A walk that stopped early is a row, so a fleet policy can tell an
        // empty answer from an unfinished one.
        if ctx.query.admits("source", SCAN_INCOMPLETE) {
            for i in incomplete {
                rows.push(vec![
                    text(format!("walk stopped early: {}", i.reason)),
                    None,
                    text(SCAN_INCOMPLETE),
                    text(i.area),
                    None,
                    Some(enrolled.to_string()),
                    text(source.as_str()),
                    None,
                    None,
                    // Not software: managed stays NULL, out of `managed = 0`.
                    None,
                    None,
                    None,
                    None,
                ]);
            }
        }
        TableOutput { rows, warnings }
    }
}
