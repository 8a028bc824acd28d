//! Times a full generate of each table in-process, against spawning five
//! short-lived processes (`/bin/true`) in the same run, on the live machine
//! and on a fixture host.
//!
//!     cargo bench --bench tables [-- ITERATIONS]
//!
//! With `POSTERN_BENCH_ROOT=DIR` (a host made by `scripts/synth_host.py`),
//! that host is measured too. One engine answers every iteration after a
//! warm-up, as a running extension does, so its caches are warm.
//!
//! Prints medians; figures and method are kept in docs/PERFORMANCE.md.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use postern::engine::Engine;
use postern::policy::PolicySource;
use postern::root::HostRoot;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn time(iterations: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    median(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hardened_linux/root");
    let mut hosts = vec![
        ("live /".to_string(), HostRoot::system()),
        (
            "fixture hardened_linux".to_string(),
            HostRoot::new(&fixture).unwrap_or_else(|_| HostRoot::system()),
        ),
    ];
    if let Some(dir) = std::env::var_os("POSTERN_BENCH_ROOT") {
        match HostRoot::new(Path::new(&dir)) {
            Ok(root) => hosts.push((format!("{}", Path::new(&dir).display()), root)),
            Err(e) => eprintln!("POSTERN_BENCH_ROOT: {e}"),
        }
    }
    let five_true = time(iterations, || {
        for _ in 0..5 {
            let _ = Command::new("/bin/true").status();
        }
    });
    println!("iterations: {iterations} (median)");
    println!("| what | ms |");
    println!("|---|---|");
    println!("| 5 x spawn /bin/true | {:.2} |", ms(five_true));
    for (label, root) in hosts {
        // An enrollment time in the past, so new_software_since_enrollment
        // lists (and hashes) what arrived since.
        let policy = std::env::temp_dir().join("postern-bench-policy.json");
        let _ = std::fs::write(&policy, r#"{"enrollment":{"time":"2026-01-01T00:00:00Z"}}"#);
        let engine = Engine::new(
            root,
            PolicySource::Explicit(policy),
            false,
            Duration::from_secs(60),
        );
        for table in [
            "security_control_health",
            "remote_access_tools",
            "new_software_since_enrollment",
            "laptop_farm_signals",
        ] {
            let t = time(iterations, || {
                let _ = engine.generate(table, "");
            });
            println!(
                "| {table} on {label} | {:.2} ({:.2} x five /bin/true) |",
                ms(t),
                ms(t) / ms(five_true)
            );
        }
    }
}
