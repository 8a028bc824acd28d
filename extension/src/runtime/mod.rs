//! osquery mode: what the binary does when osqueryd launches it as
//! `postern.ext [--verbose] --socket PATH --timeout S --interval S`.
//!
//! 1. Wait up to `--timeout` seconds for the manager socket.
//! 2. Register as extension `postern` with the crate's version; a refused
//!    registration (name or table clash) exits 1 with osquery's reason.
//! 3. Serve the tables on `<socket>.<uuid>`.
//! 4. Every `--interval` seconds check that osquery answers *and* still lists
//!    this extension; otherwise exit 1 so osquery's watcher relaunches it.
//!    Exit 1 too when a table call has overrun its deadline by more than the
//!    stuck grace: its worker still holds a call slot, and only a relaunch
//!    frees it for certain.
//! 5. SIGTERM/SIGINT or osquery's shutdown call: deregister, remove the
//!    socket, exit 0.
//!
//! Connections are shaped by osquery's pattern: a new connection for every
//! call, and a ping on yet another connection first; one failed ping and
//! osquery drops the extension. So each connection has its own thread
//! (table work runs on the engine's workers, never blocking a ping), at most
//! [`MAX_CONNECTIONS`] at once; past that, new connections wait in the
//! listen backlog and are never closed unanswered. A request must arrive
//! whole within the message deadline, and the bytes all requests hold are
//! capped ([`wire::RequestLimits`], [`REQUEST_BYTES_IN_FLIGHT`]).

pub mod wire;

use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use osquery_rust_ng::{ExtensionResponse, ExtensionStatus};

use crate::engine::Engine;
use crate::table::Table;
use wire::{ExtensionHandler, InFlight, ManagerClient, Registry, RequestLimits, Routes};

pub const EXTENSION_NAME: &str = "postern";
/// The `sdk_version` postern registers with: the osquery SDK generation
/// whose extension protocol it implements (osquery 5: column options in the
/// routes, `colsUsed` in the query context, one connection per call). It is
/// not the product's version, which travels in `version`. osqueryd refuses a
/// registration whose `sdk_version` compares below every entry of its
/// `kSDKVersionChanges` list ([`OSQUERY_SDK_MINIMUM`]).
pub const SDK_VERSION: &str = "5.0.0";
/// The newest entry of osquery's `kSDKVersionChanges`: the lowest
/// `sdk_version` osqueryd 5.x accepts.
pub const OSQUERY_SDK_MINIMUM: &str = "1.7.7";
/// Connections served at once (a thread each); osquery uses one per call
/// plus one per ping. Further connections wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// Bytes of requests held in memory across all connections at once.
pub const REQUEST_BYTES_IN_FLIGHT: usize = 96 << 20;
/// Stack of a connection thread: it parses requests and writes replies;
/// tables run on the engine's own workers.
const CONNECTION_STACK: usize = 256 << 10;
/// Timeout for each call to the manager.
const MANAGER_TIMEOUT: Duration = Duration::from_secs(10);

/// The command line osqueryd gives an extension. Unknown flags are ignored
/// (other osquery versions pass others).
#[derive(Clone, Debug, PartialEq)]
pub struct OsqueryArgs {
    pub socket: PathBuf,
    pub timeout: Duration,
    pub interval: Duration,
    pub verbose: bool,
    pub ignored: Vec<String>,
}

/// True when the arguments look like osqueryd launching an extension.
pub fn is_osquery_launch(args: &[String]) -> bool {
    args.iter()
        .any(|a| a == "--socket" || a.starts_with("--socket="))
}

fn seconds(value: &str, flag: &str) -> Result<Duration, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag} takes a number of seconds, not {value:?}"))
}

/// Parses osqueryd's extension arguments (program name excluded). Pure.
pub fn parse_osquery_args(args: &[String]) -> Result<OsqueryArgs, String> {
    let mut out = OsqueryArgs {
        socket: PathBuf::from(crate::root::paths::OSQUERY_SOCKET),
        timeout: Duration::from_secs(3),
        interval: Duration::from_secs(3),
        verbose: false,
        ignored: Vec::new(),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "--socket" => out.socket = PathBuf::from(value("--socket")?),
            "--timeout" => out.timeout = seconds(&value("--timeout")?, "--timeout")?,
            "--interval" => out.interval = seconds(&value("--interval")?, "--interval")?,
            "--verbose" => out.verbose = true,
            other => out.ignored.push(other.to_string()),
        }
    }
    Ok(out)
}

/// The routes of a table: one map per column.
pub fn table_routes(table: &dyn Table) -> Routes {
    table
        .columns()
        .iter()
        .map(|c| {
            BTreeMap::from([
                ("id".to_string(), "column".to_string()),
                ("name".to_string(), c.name.to_string()),
                ("type".to_string(), c.kind.osquery_name().to_string()),
                ("op".to_string(), c.options.to_string()),
            ])
        })
        .collect()
}

fn registry_of(engine: &Engine) -> Registry {
    let tables = engine
        .tables()
        .iter()
        .map(|t| (t.name().to_string(), table_routes(t.as_ref())))
        .collect();
    BTreeMap::from([
        ("table".to_string(), tables),
        ("config".to_string(), BTreeMap::new()),
        ("logger".to_string(), BTreeMap::new()),
    ])
}

fn status(code: i32, message: &str) -> ExtensionStatus {
    ExtensionStatus::new(code, message.to_string(), None)
}

fn failure(message: String) -> ExtensionResponse {
    ExtensionResponse::new(status(1, &message), Vec::new())
}

/// Why the run ended.
enum Event {
    Signal(i32),
    ShutdownCall,
}

struct Handler {
    engine: Engine,
    events: mpsc::Sender<Event>,
}

impl ExtensionHandler for Handler {
    fn ping(&self) -> ExtensionStatus {
        status(0, "OK")
    }

    fn call(
        &self,
        registry: &str,
        item: &str,
        request: &BTreeMap<String, String>,
    ) -> ExtensionResponse {
        if registry != "table" {
            return failure(format!("postern has no {registry} plugins"));
        }
        let action = request.get("action").map(String::as_str).unwrap_or("");
        match action {
            "columns" => match self.engine.tables().iter().find(|t| t.name() == item) {
                Some(t) => ExtensionResponse::new(status(0, "OK"), table_routes(t.as_ref())),
                None => failure(format!("postern has no table named {item:?}")),
            },
            "generate" => {
                let context = request.get("context").map(String::as_str).unwrap_or("");
                match self.engine.generate(item, context) {
                    Ok(result) => ExtensionResponse::new(status(0, "OK"), result.to_osquery_rows()),
                    Err(e) => {
                        log::warn!("{item}: {e}");
                        failure(e.to_string())
                    }
                }
            }
            other => failure(format!(
                "{item} is read-only: action {other:?} is not supported"
            )),
        }
    }

    fn shutdown(&self) {
        log::info!("osquery asked the extension to shut down");
        let _ = self.events.send(Event::ShutdownCall);
    }
}

/// Waits for the manager socket to accept connections.
fn wait_for_socket(path: &Path, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match UnixStream::connect(path) {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() >= timeout => {
                return Err(format!(
                    "osquery's extension socket {} did not accept connections within {:.1} s: {e}",
                    path.display(),
                    timeout.as_secs_f64()
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn listen(path: &Path) -> Result<UnixListener, String> {
    // A socket left by a crashed instance with the same uuid is stale; any
    // other kind of file there is not ours to remove.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            let _ = std::fs::remove_file(path);
        } else {
            return Err(format!("{} exists and is not a socket", path.display()));
        }
    }
    UnixListener::bind(path).map_err(|e| format!("cannot listen on {}: {e}", path.display()))
}

/// Connection slots: a count under a lock, and a condition to wait on
/// while every slot is taken.
#[derive(Default)]
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    /// Waits for a free slot and takes it.
    fn take(self: &Arc<Self>, limit: usize) -> SlotGuard {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used >= limit {
            used = self.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += 1;
        SlotGuard(self.clone())
    }
}

/// Gives its slot back however the connection thread ends (panics included).
struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut used = self.0.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

fn accept_loop(listener: UnixListener, handler: Arc<Handler>, limits: RequestLimits) {
    let slots = Arc::new(Slots::default());
    let in_flight = Arc::new(InFlight::new(REQUEST_BYTES_IN_FLIGHT));
    loop {
        // Take the slot before accepting: while all are busy, new connections
        // wait in the kernel's backlog instead of being closed unanswered.
        let slot = slots.take(MAX_CONNECTIONS);
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                log::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let handler = handler.clone();
        let in_flight = in_flight.clone();
        let spawned = std::thread::Builder::new()
            .name("osquery-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                let _slot = slot;
                let served = catch_unwind(AssertUnwindSafe(|| {
                    wire::serve_connection(stream, limits, in_flight, handler.as_ref())
                }));
                match served {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => log::debug!("connection ended: {}", wire::error_text(&e)),
                    Err(_) => log::error!("a connection thread panicked; its slot is freed"),
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start a connection thread: {e}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Checks osquery is alive and still lists `uuid` as postern.
fn check_registration(socket: &Path, uuid: i64) -> Result<(), String> {
    let mut client = ManagerClient::connect(socket, MANAGER_TIMEOUT).map_err(|e| {
        format!(
            "osquery went away: cannot connect to {}: {e}",
            socket.display()
        )
    })?;
    client
        .ping()
        .map_err(|e| format!("osquery went away: ping failed: {}", wire::error_text(&e)))?;
    let extensions = client.extensions().map_err(|e| {
        format!(
            "osquery went away: cannot list extensions: {}",
            wire::error_text(&e)
        )
    })?;
    match extensions.get(&uuid) {
        Some(name) if name == EXTENSION_NAME => Ok(()),
        _ => Err(format!(
            "osquery no longer lists this extension (uuid {uuid}): it was deregistered"
        )),
    }
}

/// Limits of osquery mode that tests shorten.
#[derive(Clone, Copy, Debug)]
pub struct RuntimeLimits {
    pub requests: RequestLimits,
    /// How long a table call may overrun its deadline before postern exits
    /// so that osquery relaunches it (its worker still holds a call slot).
    pub stuck_grace: Duration,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        RuntimeLimits {
            requests: RequestLimits::default(),
            stuck_grace: Duration::from_secs(60),
        }
    }
}

/// Runs osquery mode until stopped. `Ok(())` means a clean stop (exit 0);
/// `Err` carries the one-line reason for a non-zero exit.
pub fn run(args: &OsqueryArgs, engine: Engine, limits: RuntimeLimits) -> Result<(), String> {
    if !args.ignored.is_empty() {
        log::debug!("ignoring unknown arguments: {:?}", args.ignored);
    }
    let (events_tx, events_rx) = mpsc::channel();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let signal_handle = signals.handle();
    {
        let tx = events_tx.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    let _ = tx.send(Event::Signal(signal));
                }
            })
            .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    }

    wait_for_socket(&args.socket, args.timeout)?;
    let registry = registry_of(&engine);
    let mut client = ManagerClient::connect(&args.socket, MANAGER_TIMEOUT)
        .map_err(|e| format!("cannot connect to {}: {e}", args.socket.display()))?;
    let reply = client
        .register_extension(
            EXTENSION_NAME,
            env!("CARGO_PKG_VERSION"),
            SDK_VERSION,
            &registry,
        )
        .map_err(|e| format!("registration failed: {}", wire::error_text(&e)))?;
    drop(client);
    let code = reply.code.unwrap_or(1);
    let uuid = reply.uuid.unwrap_or(0);
    if code != 0 {
        return Err(format!(
            "osquery refused the registration: {}",
            reply.message.as_deref().unwrap_or("no reason given")
        ));
    }
    let listen_path = PathBuf::from(format!("{}.{uuid}", args.socket.display()));
    let listener = listen(&listen_path)?;
    log::info!(
        "registered as {EXTENSION_NAME} {} (uuid {uuid}), serving on {}",
        env!("CARGO_PKG_VERSION"),
        listen_path.display()
    );
    // The first run in osquery mode records the enrollment baseline, off the
    // serving path.
    {
        let root = engine.root().clone();
        let store = engine.state().clone();
        let _ = std::thread::Builder::new()
            .name("baseline".into())
            .spawn(move || {
                crate::baseline::record_if_missing(&root, &store, crate::engine::unix_now())
            });
    }
    let watched = engine.clone();
    let handler = Arc::new(Handler {
        engine,
        events: events_tx,
    });
    std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept_loop(listener, handler, limits.requests))
        .map_err(|e| format!("cannot start the accept thread: {e}"))?;

    let interval = args.interval.max(Duration::from_millis(500));
    let outcome = loop {
        match events_rx.recv_timeout(interval) {
            Ok(Event::Signal(sig)) => {
                log::info!("signal {sig}: deregistering and exiting");
                break Ok(true);
            }
            Ok(Event::ShutdownCall) => break Ok(false),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some((table, over)) = watched.longest_overrun() {
                    if over > limits.stuck_grace {
                        break Err(format!(
                            "{table} is still running {} s past its deadline and holds a call slot; \
                             exiting so that osquery relaunches postern",
                            over.as_secs()
                        ));
                    }
                }
                if let Err(why) = check_registration(&args.socket, uuid) {
                    break Err(why);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err("internal: event channel closed".to_string())
            }
        }
    };
    signal_handle.close();
    if let Ok(true) = outcome {
        match ManagerClient::connect(&args.socket, MANAGER_TIMEOUT)
            .and_then(|mut c| c.deregister_extension(uuid).map_err(std::io::Error::other))
        {
            Ok(_) => log::info!("deregistered uuid {uuid}"),
            Err(e) => log::warn!("could not deregister: {e}"),
        }
    }
    if let Err(e) = std::fs::remove_file(&listen_path) {
        log::warn!("cannot remove {}: {e}", listen_path.display());
    }
    outcome.map(|_| ())
}

/// osquery's `versionAtLeast(required, candidate)`
/// (osquery/utils/info/version.cpp): "0.0.0" on either side passes; else the
/// dot-separated components are compared in order as integers (C's `stoi`:
/// leading digits, so "0-g12" is 0), and a component that is not a number
/// only fails when it sorts below the required one as text. A candidate with
/// more components than required is compared as far as required goes. Pure.
pub fn version_at_least(required: &str, candidate: &str) -> bool {
    if required == "0.0.0" || candidate == "0.0.0" {
        return true;
    }
    let required: Vec<&str> = required.split('.').collect();
    for (index, chunk) in candidate.split('.').enumerate() {
        let Some(need) = required.get(index) else {
            return true;
        };
        match (leading_int(chunk), leading_int(need)) {
            (Some(have), Some(need)) if have < need => return false,
            (Some(have), Some(need)) if have > need => return true,
            (Some(_), Some(_)) => {}
            _ if chunk < *need => return false,
            _ => {}
        }
    }
    true
}

/// C's `stoi` without the exceptions: optional white space and sign, then
/// the leading digits; `None` when there are none.
fn leading_int(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let number = digits.get(..end).filter(|d| !d.is_empty())?;
    number.parse::<i64>().ok().map(|n| n * sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osquery_accepts_the_sdk_version_postern_sends() {
        // osqueryd refuses any registration whose sdk_version is below its
        // last SDK change; this fails if a change sends such a version.
        assert!(version_at_least(OSQUERY_SDK_MINIMUM, SDK_VERSION));
        // The comparison itself, as osquery makes it.
        assert!(!version_at_least("1.7.7", "0.1.0"));
        assert!(!version_at_least("1.7.7", "1.7.6"));
        assert!(!version_at_least("1.7.7", "1.6.99"));
        assert!(version_at_least("1.7.7", "1.7.7"));
        assert!(version_at_least("1.7.7", "1.10.0"));
        assert!(version_at_least("1.7.7", "5.0.0-12-gabcdef"));
        assert!(version_at_least("1.7.7", "0.0.0"));
        assert!(!version_at_least("1.7.7", ""));
        assert!(version_at_least("1.7.7", "1.7"));
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn osquery_arguments() {
        let a = parse_osquery_args(&strings(&[
            "--verbose",
            "--socket",
            "/var/osquery/osquery.em",
            "--timeout",
            "3",
            "--interval",
            "3",
            "--unknown-flag",
            "--extra=1",
        ]))
        .unwrap();
        assert!(a.verbose);
        assert_eq!(a.socket, PathBuf::from("/var/osquery/osquery.em"));
        assert_eq!(a.timeout, Duration::from_secs(3));
        assert_eq!(a.ignored, ["--unknown-flag", "--extra"]);
        let b = parse_osquery_args(&strings(&["--socket=/tmp/x.em", "--interval=0.5"])).unwrap();
        assert_eq!(b.socket, PathBuf::from("/tmp/x.em"));
        assert_eq!(b.interval, Duration::from_millis(500));
        assert!(parse_osquery_args(&strings(&["--timeout", "soon"])).is_err());
        assert!(parse_osquery_args(&strings(&["--socket"])).is_err());
        assert!(is_osquery_launch(&strings(&["--socket", "x"])));
        assert!(!is_osquery_launch(&strings(&["audit"])));
    }
}
