//! Runs a table call the way every caller needs it: the osquery runtime,
//! `postern query` and `postern audit` all go through [`Engine::generate`].
//!
//! One wrapper for every call: the policy is (re)loaded, the query context
//! parsed, and the table runs on its own thread under a deadline, with a cap
//! on concurrent calls; a panic becomes an error and the process lives on.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::catalog::Catalog;
use crate::host::snapshot::Snapshot;
use crate::policy::{load_policy, running_as_root, LoadedPolicy, PolicySource};
use crate::root::HostRoot;
use crate::table::{Column, Deadline, GenerateContext, QueryContext, Row, Table};
use crate::tables;

/// Default time a table may take; osquery's own call timeout is 300 s.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// Calls allowed to run at once. A further call waits for a slot for at most
/// the queue wait, then is refused as busy, so a stuck table cannot pile up
/// threads.
pub const MAX_CONCURRENT_CALLS: usize = 2;
/// How long a call waits for a free slot by default. osquery runs its
/// schedule one query at a time, but a live query or osqueryi can arrive
/// meanwhile; its call timeout is 300 s.
pub const DEFAULT_QUEUE_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, PartialEq)]
pub enum CallError {
    UnknownTable(String),
    BadContext(String),
    Busy { limit: usize },
    Timeout { table: String, after: Duration },
    Panicked { table: String, message: String },
    Unavailable(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::UnknownTable(t) => {
                write!(f, "postern has no table named {t:?}")?;
                let tables = crate::tables::all();
                let names: Vec<&str> = tables.iter().map(|t| t.name()).collect();
                match crate::table::closest(t, &names) {
                    Some(near) => write!(f, "; did you mean {near:?}?"),
                    None => write!(f, "; its tables are {}", names.join(", ")),
                }
            }
            CallError::BadContext(e) => write!(f, "{e}"),
            CallError::Busy { limit } => write!(
                f,
                "postern is busy: already answering {limit} queries and none finished in time; try again when they finish"
            ),
            CallError::Timeout { table, after } => write!(
                f,
                "{table} did not finish within {} s; no rows returned",
                after.as_secs()
            ),
            CallError::Panicked { table, message } => {
                write!(f, "{table} failed with an internal error: {message}")
            }
            CallError::Unavailable(why) => write!(f, "{why}"),
        }
    }
}

/// A table's rows with its schema, ready to print or serialise.
pub struct TableResult {
    pub columns: &'static [Column],
    pub rows: Vec<Row>,
    pub warnings: Vec<String>,
    pub policy: LoadedPolicy,
}

impl TableResult {
    /// Rows as osquery expects them: column name to string, NULLs left out.
    pub fn to_osquery_rows(&self) -> Vec<BTreeMap<String, String>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .zip(row)
                    .filter_map(|(c, v)| v.as_ref().map(|v| (c.name.to_string(), v.clone())))
                    .collect()
            })
            .collect()
    }
}

#[derive(Clone)]
pub struct Engine {
    root: HostRoot,
    state: crate::baseline::Store,
    policy: Arc<PolicySource>,
    with_selftest: bool,
    deadline: Duration,
    slots: Arc<CallSlots>,
    queue_wait: Duration,
    overruns: Arc<Overruns>,
    identity: Arc<crate::host::identity::IdentityCache>,
}

/// Running table calls, with a condition to wait on for a free slot.
#[derive(Default)]
struct CallSlots {
    running: Mutex<usize>,
    freed: Condvar,
}

impl CallSlots {
    /// Takes a slot, waiting at most `wait` for one.
    fn take(self: &Arc<Self>, wait: Duration) -> Option<ActiveSlot> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let (mut running, _) = self
            .freed
            .wait_timeout_while(running, wait, |n| *n >= MAX_CONCURRENT_CALLS)
            .unwrap_or_else(|p| p.into_inner());
        if *running >= MAX_CONCURRENT_CALLS {
            return None;
        }
        *running += 1;
        Some(ActiveSlot(self.clone()))
    }
}

/// Table calls that overran their deadline and whose workers still run:
/// call number -> (table, when the deadline passed).
#[derive(Default)]
struct Overruns {
    calls: Mutex<BTreeMap<u64, (String, Instant)>>,
    next: AtomicU64,
}

impl Overruns {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (String, Instant)>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Gives the slot back when the worker thread ends, however it ends.
struct ActiveSlot(Arc<CallSlots>);

impl Drop for ActiveSlot {
    fn drop(&mut self) {
        let mut running = self.0.running.lock().unwrap_or_else(|p| p.into_inner());
        *running = running.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

/// Marks a worker finished (and no longer overrunning) however it ends.
struct WorkerDone {
    id: u64,
    finished: Arc<AtomicBool>,
    overruns: Arc<Overruns>,
}

impl Drop for WorkerDone {
    fn drop(&mut self) {
        let mut overruns = self.overruns.lock();
        self.finished.store(true, Ordering::Release);
        overruns.remove(&self.id);
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

impl Engine {
    pub fn new(
        root: HostRoot,
        policy: PolicySource,
        with_selftest: bool,
        deadline: Duration,
    ) -> Self {
        Engine {
            state: crate::baseline::Store::new(&root, None),
            root,
            policy: Arc::new(policy),
            with_selftest,
            deadline,
            slots: Arc::default(),
            queue_wait: DEFAULT_QUEUE_WAIT,
            overruns: Arc::default(),
            identity: Arc::default(),
        }
    }

    /// Sets how long a call waits for a free slot before it is refused.
    pub fn with_queue_wait(mut self, wait: Duration) -> Self {
        self.queue_wait = wait;
        self
    }

    /// The table call that has overrun its deadline the longest and is
    /// still running, and by how much.
    pub fn longest_overrun(&self) -> Option<(String, Duration)> {
        self.overruns
            .lock()
            .values()
            .min_by_key(|(_, since)| *since)
            .map(|(table, since)| (table.clone(), since.elapsed()))
    }

    pub fn root(&self) -> &HostRoot {
        &self.root
    }

    /// Keeps the enrollment baseline in `dir` instead of the host's state
    /// directory.
    pub fn with_state_dir(mut self, dir: &std::path::Path) -> Self {
        self.state = crate::baseline::Store::new(&self.root, Some(dir));
        self
    }

    pub fn state(&self) -> &crate::baseline::Store {
        &self.state
    }

    /// The tables this engine serves.
    pub fn tables(&self) -> Vec<Box<dyn Table>> {
        let mut all = tables::all();
        if self.with_selftest {
            all.push(Box::new(tables::selftest::Selftest));
        }
        all
    }

    pub fn load_policy(&self) -> Result<LoadedPolicy, CallError> {
        let catalog = Catalog::embedded().map_err(|e| CallError::Unavailable(e.to_string()))?;
        Ok(load_policy(
            &self.policy,
            &self.root,
            catalog,
            running_as_root(),
        ))
    }

    /// Runs one table under the guard. `context` is osquery's context JSON.
    pub fn generate(&self, table: &str, context: &str) -> Result<TableResult, CallError> {
        let Some(found) = tables::find(table, self.with_selftest) else {
            return Err(CallError::UnknownTable(table.to_string()));
        };
        let query =
            QueryContext::parse(context).map_err(|e| CallError::BadContext(e.to_string()))?;
        let catalog = Catalog::embedded().map_err(|e| CallError::Unavailable(e.to_string()))?;

        let Some(guard) = self.slots.take(self.queue_wait) else {
            return Err(CallError::Busy {
                limit: MAX_CONCURRENT_CALLS,
            });
        };
        let columns = found.columns();
        let name = found.name().to_string();
        let root = self.root.clone();
        let state = self.state.clone();
        let policy_source = self.policy.clone();
        let identity = self.identity.clone();
        let deadline = self.deadline;
        let (tx, rx) = mpsc::channel();
        let call_id = self.overruns.next.fetch_add(1, Ordering::Relaxed);
        let finished = Arc::new(AtomicBool::new(false));
        let worker_done = WorkerDone {
            id: call_id,
            finished: finished.clone(),
            overruns: self.overruns.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("table:{name}"))
            .spawn(move || {
                let _guard = guard;
                let _done = worker_done;
                let result = catch_unwind(AssertUnwindSafe(|| {
                    let policy = load_policy(&policy_source, &root, catalog, running_as_root());
                    let snapshot = Snapshot::new(&root, Deadline::after(deadline));
                    let ctx = GenerateContext {
                        root: &root,
                        host: &snapshot,
                        policy: &policy,
                        catalog,
                        query: &query,
                        deadline: Deadline::after(deadline),
                        now: unix_now(),
                        state: &state,
                        identity: &identity,
                    };
                    let mut output = found.generate(&ctx);
                    output.warnings.extend(snapshot.take_warnings());
                    (output, policy)
                }));
                // The receiver may have given up at the deadline; nothing to do then.
                let _ = tx.send(result.map_err(|p| panic_message(p.as_ref())));
            });
        if let Err(e) = spawned {
            return Err(CallError::Unavailable(format!(
                "cannot start a worker thread: {e}"
            )));
        }
        match rx.recv_timeout(deadline) {
            Ok(Ok((output, policy))) => {
                for w in &output.warnings {
                    log::warn!("{name}: {w}");
                }
                Ok(TableResult {
                    columns,
                    rows: output.rows,
                    warnings: output.warnings,
                    policy,
                })
            }
            Ok(Err(message)) => {
                log::error!("{name} panicked: {message}");
                Err(CallError::Panicked {
                    table: name,
                    message,
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                log::error!("{name} overran its {} s deadline", deadline.as_secs());
                // Checked under the lock the worker takes when it ends, so a
                // worker that has just finished is never recorded.
                let mut overruns = self.overruns.lock();
                if !finished.load(Ordering::Acquire) {
                    overruns.insert(call_id, (name.clone(), Instant::now()));
                }
                drop(overruns);
                Err(CallError::Timeout {
                    table: name,
                    after: deadline,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(CallError::Unavailable(format!(
                "{name} ended without an answer"
            ))),
        }
    }
}
