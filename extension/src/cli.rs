//! The command line: osquery mode when launched with `--socket`, else the
//! standalone commands (`audit`, `query`, `tables`, `policy validate`,
//! `catalog`). Every command returns an exit code; nothing here calls
//! `process::exit`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::catalog::Catalog;
use crate::engine::{Engine, DEFAULT_DEADLINE};
use crate::output::{self, Format};
use crate::policy::{parse_policy, PolicySource};
use crate::root::HostRoot;
use crate::runtime;
use crate::tables;

#[derive(Parser, Debug)]
#[command(
    name = "postern",
    version,
    about = "Finds remote access tools, broken security controls and software that arrived after enrollment. Runs standalone or as an osquery extension (launched with --socket)."
)]
struct Cli {
    /// More logging on standard error (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug, Clone)]
struct HostArgs {
    /// Directory standing for the host's `/` (a mounted disk image or a fixture).
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Policy file (default: /etc/postern/policy.json, inside --root).
    #[arg(long)]
    policy: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every table on this machine and summarise the findings.
    Audit {
        #[command(flatten)]
        host: HostArgs,
        #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
        format: AuditFormat,
        /// Exit with status 1 when an unapproved tool is found or a required
        /// control fails or is degraded.
        #[arg(long)]
        fail_on_findings: bool,
    },
    /// Print one table's rows.
    Query {
        table: String,
        #[command(flatten)]
        host: HostArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Equality constraint passed to the table as osquery would (COLUMN=VALUE, repeatable).
        #[arg(long = "where", value_name = "COLUMN=VALUE")]
        constraints: Vec<String>,
    },
    /// Describe every table's schema.
    Tables {
        #[arg(long, value_enum, default_value_t = SchemaFormat::Markdown)]
        format: SchemaFormat,
    },
    /// Policy file commands.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The enrollment baseline: record, show or verify it.
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
    },
    /// Coverage, grades and time-to-detect / time-to-resolve from osquery result logs.
    Report {
        /// Result log files or directories (plain or gzip); `-` for standard input.
        #[arg(default_value = "-")]
        inputs: Vec<PathBuf>,
        /// Default: from the --output file's extension, else text on a
        /// terminal and json in a pipeline.
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
        /// Write the report to this file (replaced whole, never half-written)
        /// instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Threads that parse the logs (default: one a core, up to 8); 1
        /// keeps the report to one core.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
        threads: Option<u16>,
        /// Write a demo log for --hosts hosts over --days days to this file instead.
        #[arg(long, value_name = "FILE")]
        demo: Option<PathBuf>,
        #[arg(long, default_value_t = 50)]
        hosts: usize,
        #[arg(long, default_value_t = 14)]
        days: i64,
    },
    /// Query packs for osquery and Fleet.
    Packs {
        #[command(subcommand)]
        command: PacksCommand,
    },
    /// List the remote access catalog (tool ids for the policy's
    /// remote_access.approved), or with --agents the security agents
    /// (agent ids for edr.required_any), or with --laptop-farm the consumer
    /// VPN, proxy and keep-awake tools (ids for laptop_farm.approved).
    Catalog {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// List the EDR, antivirus and telemetry agents instead.
        #[arg(long, conflicts_with = "laptop_farm")]
        agents: bool,
        /// List laptop_farm_signals' consumer VPN, proxy and keep-awake tools instead.
        #[arg(long)]
        laptop_farm: bool,
    },
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Report every problem in a policy file; exit 1 if there is any.
    Validate { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum PacksCommand {
    /// Write packs/*.conf and fleet/*.yml from the tables and catalogs.
    Generate {
        /// Repository root to write into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum BaselineCommand {
    /// Record the software inventory as the enrollment baseline.
    Init {
        /// Directory standing for the host's `/`.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Replace an existing, damaged or vanished baseline.
        #[arg(long)]
        force: bool,
    },
    /// Print the baseline's summary and items.
    Show {
        #[arg(long, default_value = "/")]
        root: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Check the baseline's digest and trust; exit 1 on any problem.
    Verify {
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AuditFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Text,
    Json,
    /// One self-contained page with SVG charts.
    Html,
}

impl ReportFormat {
    /// The format asked for, else the one the output file's name implies,
    /// else text for a person at a terminal and JSON for a pipeline.
    fn choose(asked: Option<Self>, output: Option<&Path>) -> Self {
        use std::io::IsTerminal;
        if let Some(f) = asked {
            return f;
        }
        let ext = output
            .and_then(Path::extension)
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("html" | "htm") => Self::Html,
            Some("json") => Self::Json,
            Some(_) => Self::Text,
            None if output.is_none() && !std::io::stdout().is_terminal() => Self::Json,
            None => Self::Text,
        }
    }
}

/// Writes to `path` through a temporary file in the same directory and a
/// rename, so that a reader never sees half a report.
fn write_whole(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), String> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| format!("--output {} names no file", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    // create_new: never through a link someone placed at the temporary name.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let result = write(&mut w)
        .and_then(|()| w.into_inner().map_err(|e| e.into_error()))
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the report in `format`.
fn write_report(
    out: &mut dyn Write,
    format: ReportFormat,
    report: &crate::report::Report,
) -> std::io::Result<()> {
    match format {
        ReportFormat::Text => out.write_all(crate::report::to_text(report).as_bytes()),
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        ReportFormat::Html => out.write_all(crate::report::html::to_html(report).as_bytes()),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SchemaFormat {
    Markdown,
    Json,
}

fn init_logging(verbosity: u8) {
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let _ = env_logger::Builder::from_env(env_logger::Env::new().filter_or("POSTERN_LOG", level))
        .format_target(false)
        .try_init();
}

/// Entry point for the binary.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let strings: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let rest = strings.get(1..).unwrap_or_default();
    if runtime::is_osquery_launch(rest) {
        return osquery_mode(rest);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.verbose);
    match run(cli.command) {
        Ok(code) => code,
        // The reader went away (`postern ... | head`): what it wanted was
        // written; nothing to report, as with any filter.
        Err(message) if message == OUTPUT_CLOSED => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("postern: {message}");
            ExitCode::FAILURE
        }
    }
}

fn osquery_mode(args: &[String]) -> ExitCode {
    let parsed = match runtime::parse_osquery_args(args) {
        Ok(a) => a,
        Err(e) => {
            init_logging(0);
            eprintln!("postern: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(if parsed.verbose { 2 } else { 1 });
    let with_selftest = std::env::var(tables::selftest::ENV).is_ok_and(|v| v == "1");
    let deadline = std::env::var("POSTERN_TABLE_DEADLINE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(DEFAULT_DEADLINE);
    let mut engine = Engine::new(
        HostRoot::system(),
        PolicySource::Default,
        with_selftest,
        deadline,
    );
    if let Some(dir) = state_dir_override() {
        engine = engine.with_state_dir(&dir);
    }
    let seconds = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
            .map(std::time::Duration::from_secs_f64)
    };
    let mut limits = runtime::RuntimeLimits::default();
    if let Some(d) = seconds("POSTERN_MESSAGE_DEADLINE_SECS") {
        limits.requests.message_deadline = d;
    }
    if let Some(d) = seconds("POSTERN_STUCK_GRACE_SECS") {
        limits.stuck_grace = d;
    }
    if let Some(d) = seconds("POSTERN_QUEUE_WAIT_SECS") {
        engine = engine.with_queue_wait(d);
    }
    match runtime::run(&parsed, engine, limits) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            log::error!("{reason}");
            eprintln!("postern: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn engine_for(host: &HostArgs) -> Result<Engine, String> {
    let root = if host.root == std::path::Path::new("/") {
        HostRoot::system()
    } else {
        HostRoot::new(&host.root)
            .map_err(|e| format!("cannot use --root {}: {e}", host.root.display()))?
    };
    let policy = match &host.policy {
        Some(p) => PolicySource::Explicit(p.clone()),
        None => PolicySource::Default,
    };
    let engine = Engine::new(root, policy, false, DEFAULT_DEADLINE);
    // A policy named on the command line must be there and valid: an audit
    // against a file that is not what the user meant would mislead.
    if let Some(path) = &host.policy {
        if let Some(problem) = explicit_policy_problem(path) {
            return Err(format!("--policy {}: {problem}", path.display()));
        }
    }
    Ok(match state_dir_override() {
        Some(dir) => engine.with_state_dir(&dir),
        None => engine,
    })
}

/// `POSTERN_STATE_DIR`, when set.
fn state_dir_override() -> Option<PathBuf> {
    std::env::var_os(crate::baseline::STATE_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Builds an osquery context JSON from `COLUMN=VALUE` equality constraints.
fn context_from(constraints: &[String]) -> Result<String, String> {
    let mut by_column: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for c in constraints {
        let (col, value) = c
            .split_once('=')
            .ok_or_else(|| format!("--where takes COLUMN=VALUE, not {c:?}"))?;
        by_column
            .entry(col.trim())
            .or_default()
            .push(json!({"op": 2, "expr": value}));
    }
    let list: Vec<_> = by_column
        .into_iter()
        .map(|(name, list)| json!({"name": name, "list": list, "affinity": "TEXT"}))
        .collect();
    Ok(json!({ "constraints": list }).to_string())
}

/// The error of a write to an output whose reader has gone.
const OUTPUT_CLOSED: &str = "output closed by its reader";

fn output_error(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        OUTPUT_CLOSED.to_string()
    } else {
        format!("cannot write output: {e}")
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    // Buffered: a pretty-printed table is thousands of lines, and a locked
    // stdout alone writes each one with its own system call.
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let code = run_with(command, &mut out)?;
    out.flush().map_err(output_error)?;
    Ok(code)
}

fn run_with(command: Command, mut out: &mut dyn Write) -> Result<ExitCode, String> {
    let io = output_error;
    match command {
        Command::Query {
            table,
            host,
            format,
            constraints,
        } => {
            let engine = engine_for(&host)?;
            let mut result = engine
                .generate(&table, &context_from(&constraints)?)
                .map_err(|e| e.to_string())?;
            // osquery's SQLite filters again after the table; so does the CLI.
            let mut wanted: Vec<(usize, &str)> = Vec::new();
            for (col, v) in constraints.iter().filter_map(|c| c.split_once('=')) {
                let Some(i) = result.columns.iter().position(|c| c.name == col.trim()) else {
                    let names: Vec<&str> = result.columns.iter().map(|c| c.name).collect();
                    return Err(format!(
                        "--where {col}: {table} has no column {:?}; its columns are {}",
                        col.trim(),
                        names.join(", ")
                    ));
                };
                wanted.push((i, v));
            }
            result.rows.retain(|row| {
                wanted
                    .iter()
                    .all(|(i, v)| row.get(*i).and_then(|c| c.as_deref()) == Some(*v))
            });
            output::write(&mut out, format, result.columns, &result.rows).map_err(io)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            host,
            format,
            fail_on_findings,
        } => {
            let engine = engine_for(&host)?;
            let report = crate::audit::audit(&engine);
            match format {
                AuditFormat::Text => out.write_all(report.to_text().as_bytes()).map_err(io)?,
                AuditFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &report.to_json())
                        .map_err(|e| e.to_string())?;
                    writeln!(out).map_err(io)?;
                }
            }
            let findings = report.unapproved_tools() + report.failing_required_controls();
            Ok(if fail_on_findings && findings > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Tables { format } => {
            let text = match format {
                SchemaFormat::Markdown => tables::schema_markdown(),
                SchemaFormat::Json => tables::schema_json(),
            };
            out.write_all(text.as_bytes()).map_err(io)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy {
            command: PolicyCommand::Validate { file },
        } => validate_policy(&file, &mut out).map_err(io),
        Command::Baseline { command } => baseline_command(command, &mut out).map_err(io),
        Command::Report {
            inputs,
            format,
            output,
            threads,
            demo,
            hosts,
            days,
        } => {
            if let Some(path) = demo {
                let n = crate::report::demo::write(&path, hosts, days.max(1))
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                writeln!(
                    out,
                    "wrote {n} lines for {hosts} hosts over {days} days to {}",
                    path.display()
                )
                .map_err(io)?;
                return Ok(ExitCode::SUCCESS);
            }
            let format = ReportFormat::choose(format, output.as_deref());
            let threads = threads.map_or_else(crate::report::default_threads, usize::from);
            // A log named on the command line that cannot be read is an
            // error, not an empty report (files that vanish from a directory
            // while it is read are counted as malformed input instead).
            for input in inputs.iter().filter(|p| p.as_os_str() != "-") {
                // (A pipe such as `<(zcat ...)` is not opened twice.)
                let readable = std::fs::metadata(input).and_then(|m| {
                    if m.is_dir() {
                        std::fs::read_dir(input).map(|_| ())
                    } else if m.is_file() {
                        std::fs::File::open(input).map(|_| ())
                    } else {
                        Ok(())
                    }
                });
                readable.map_err(|e| format!("cannot read {}: {e}", input.display()))?;
            }
            let mut analysis = crate::report::analyze(&inputs, threads)?;
            let report = analysis.report();
            match output {
                Some(path) => write_whole(&path, |w| write_report(w, format, &report))?,
                None => write_report(&mut out, format, &report).map_err(io)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Packs {
            command: PacksCommand::Generate { out: dir },
        } => {
            let catalog = Catalog::embedded().map_err(|e| e.to_string())?;
            let agents = crate::agents::AgentCatalog::embedded().map_err(|e| e.to_string())?;
            for (rel, text) in crate::packs::files(catalog, agents) {
                let path = dir.join(&rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                writeln!(out, "wrote {}", path.display()).map_err(io)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Catalog {
            format,
            agents,
            laptop_farm,
        } => {
            if laptop_farm {
                let catalog = Catalog::laptop_farm().map_err(|e| e.to_string())?;
                let (columns, rows) = catalog.listing();
                output::write(&mut out, format, columns, &rows).map_err(io)?;
                return Ok(ExitCode::SUCCESS);
            }
            if agents {
                let agents = crate::agents::AgentCatalog::embedded().map_err(|e| e.to_string())?;
                let (columns, rows) = agents.listing();
                output::write(&mut out, format, columns, &rows).map_err(io)?;
                return Ok(ExitCode::SUCCESS);
            }
            let catalog = Catalog::embedded().map_err(|e| e.to_string())?;
            let (columns, rows) = catalog.listing();
            output::write(&mut out, format, columns, &rows).map_err(io)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn root_at(path: &std::path::Path) -> Result<HostRoot, std::io::Error> {
    if path == std::path::Path::new("/") {
        Ok(HostRoot::system())
    } else {
        HostRoot::new(path)
    }
}

/// Reports a command's failure on standard error.
fn failed(e: &dyn std::fmt::Display) -> std::io::Result<ExitCode> {
    eprintln!("postern: {e}");
    Ok(ExitCode::FAILURE)
}

fn baseline_command(command: BaselineCommand, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    use crate::baseline::{self, Store};
    let (root, which) = match &command {
        BaselineCommand::Init { root, .. }
        | BaselineCommand::Show { root, .. }
        | BaselineCommand::Verify { root } => (root_at(root), root.clone()),
    };
    let root = match root {
        Ok(r) => r,
        Err(e) => return failed(&format!("cannot use --root {}: {e}", which.display())),
    };
    let store = Store::new(&root, state_dir_override().as_deref());
    match command {
        BaselineCommand::Init { force, .. } => {
            match baseline::record(&root, &store, crate::engine::unix_now(), force) {
                Ok((path, b)) => {
                    writeln!(
                        out,
                        "recorded {} items at {} (digest {})",
                        b.items.len(),
                        path.display(),
                        b.digest
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => failed(&e),
            }
        }
        BaselineCommand::Verify { .. } => match store.load() {
            Ok(b) => {
                writeln!(
                    out,
                    "baseline ok: {} items recorded at {}, digest {}",
                    b.items.len(),
                    b.created,
                    b.digest
                )?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => failed(&e),
        },
        BaselineCommand::Show { format, .. } => match store.load() {
            Ok(b) => {
                use crate::table::{Column, ColumnType};
                const COLS: &[Column] = &[
                    Column::new("source", ColumnType::Text, "Source."),
                    Column::new("name", ColumnType::Text, "Name."),
                    Column::new("version", ColumnType::Text, "Version."),
                    Column::new("path", ColumnType::Text, "Path."),
                ];
                if format != Format::Json {
                    eprintln!(
                        "baseline recorded at {}: {} items, digest {}",
                        b.created,
                        b.items.len(),
                        b.digest
                    );
                }
                let rows: Vec<_> = b
                    .items
                    .iter()
                    .map(|i| {
                        vec![
                            Some(i.source.clone()),
                            Some(i.name.clone()),
                            Some(i.version.clone()),
                            Some(i.path.clone()),
                        ]
                    })
                    .collect();
                output::write(out, format, COLS, &rows)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => failed(&e),
        },
    }
}

/// What is wrong with a policy file named on the command line, if anything:
/// the same checks as `policy validate`, in one line.
fn explicit_policy_problem(file: &std::path::Path) -> Option<String> {
    let catalog = match Catalog::embedded() {
        Ok(c) => c,
        Err(e) => return Some(e.to_string()),
    };
    let text = match crate::policy::read_policy_file(file) {
        Ok(t) => t,
        Err(e) => return Some(e.to_string()),
    };
    if let Err(p) = parse_policy(&text, catalog) {
        return Some(p.0.join("; "));
    }
    if crate::policy::running_as_root() {
        if let Err(why) = crate::policy::trust_check(file) {
            return Some(format!("refused when postern runs as root: {why}"));
        }
    }
    None
}

fn validate_policy(file: &std::path::Path, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    let catalog = match Catalog::embedded() {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let text = match crate::policy::read_policy_file(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("postern: cannot read {}: {e}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut problems = match parse_policy(&text, catalog) {
        Ok(_) => Vec::new(),
        Err(p) => p.0,
    };
    if crate::policy::running_as_root() {
        if let Err(why) = crate::policy::trust_check(file) {
            problems.push(format!("refused when postern runs as root: {why}"));
        }
    }
    if problems.is_empty() {
        writeln!(out, "{}: valid", file.display())?;
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("{}: {p}", file.display());
        }
        eprintln!("{}: {} problem(s)", file.display(), problems.len());
        Ok(ExitCode::FAILURE)
    }
}
