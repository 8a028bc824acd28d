#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Kills `postern baseline init --force` at many points while it replaces a
//! baseline, and checks that afterwards either the old or the new baseline is
//! intact (its digest verifies), never a torn or missing one.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use postern::baseline::{Baseline, Store};
use postern::root::HostRoot;

fn write_packages(root: &Path, count: usize, generation: usize) {
    let mut status = String::new();
    for n in 0..count {
        let _ = write!(
            status,
            "Package: pkg-{n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {generation}.{n}\nDescription: synthetic\n\n"
        );
    }
    let dir = root.join("var/lib/dpkg");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("status"), status).unwrap();
}

fn init(root: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["baseline", "init", "--force", "--root"])
        .arg(root)
        .env_remove("POSTERN_STATE_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_killed_writer_leaves_the_old_or_the_new_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_packages(root, 10_000, 0);
    let started = Instant::now();
    assert!(init(root).wait().unwrap().success());
    let full_run = started.elapsed();
    let store = Store::new(&HostRoot::new(root).unwrap(), None);
    let mut current: Baseline = store.load().unwrap();
    let mut outcomes = (0, 0);
    let rounds = 30;
    for round in 1..=rounds {
        write_packages(root, 10_000, round);
        let mut child = init(root);
        // Spread the kills over the whole run, start-up included.
        let delay = full_run.mul_f64(round as f64 / rounds as f64 * 2.0);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let after = store
            .load()
            .unwrap_or_else(|e| panic!("round {round}, killed after {delay:?}: {e}"));
        let is_new = after
            .items
            .first()
            .is_some_and(|i| i.version.starts_with(&format!("{round}.")));
        if is_new {
            outcomes.1 += 1;
        } else {
            assert_eq!(
                after.digest, current.digest,
                "round {round}: neither old nor new"
            );
            outcomes.0 += 1;
        }
        current = after;
    }
    eprintln!(
        "full run {full_run:?}: old baseline kept {} times, new one {} times",
        outcomes.0, outcomes.1
    );
    // Kills landed both before and after the rename.
    assert!(
        outcomes.0 > 0 && outcomes.1 > 0,
        "old kept {} times, new {} times",
        outcomes.0,
        outcomes.1
    );
    let debris: Vec<_> = std::fs::read_dir(store.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(
        debris
            .iter()
            .all(|n| !n.to_string_lossy().contains("damaged")),
        "{debris:?}"
    );
}
