//! `postern_selftest`: a table that misbehaves on request, served only when
//! the environment sets `POSTERN_SELFTEST=1`. End-to-end tests use it to
//! prove, through osquery's real protocol, that a panicking or overrunning
//! table becomes an error status and the extension lives on. It reads
//! nothing from the host.
//!
//! `SELECT * FROM postern_selftest WHERE action = 'panic'` panics;
//! `action = 'sleep'` sleeps for `ms` milliseconds (default 1000);
//! anything else returns one row echoing the action.

use std::time::Duration;

use crate::table::{text, Column, ColumnType, GenerateContext, Table, TableOutput};

pub struct Selftest;

/// The environment variable that enables the table.
pub const ENV: &str = "POSTERN_SELFTEST";

const COLUMNS: &[Column] = &[
    Column::new(
        "action",
        ColumnType::Text,
        "What the table was asked to do: panic, sleep or echo.",
    ),
    Column::new(
        "ms",
        ColumnType::BigInt,
        "Milliseconds to sleep for the sleep action.",
    ),
];

impl Table for Selftest {
    fn name(&self) -> &'static str {
        "postern_selftest"
    }

    fn description(&self) -> &'static str {
        "Test-only table that panics or sleeps on request, to exercise the call guard."
    }

    fn platforms(&self) -> &'static [&'static str] {
        &["linux", "darwin"]
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    #[allow(clippy::panic)]
    fn generate(&self, ctx: &GenerateContext<'_>) -> TableOutput {
        let action = ctx
            .query
            .equals("action")
            .and_then(|s| s.into_iter().next())
            .unwrap_or_else(|| "echo".into());
        let ms = ctx
            .query
            .equals_i64("ms")
            .and_then(|s| s.into_iter().next())
            .unwrap_or(1000)
            .clamp(0, 600_000);
        match action.as_str() {
            "panic" => panic!("postern_selftest asked to panic"),
            "sleep" => std::thread::sleep(Duration::from_millis(ms as u64)),
            _ => {}
        }
        TableOutput {
            rows: vec![vec![text(action), Some(ms.to_string())]],
            warnings: Vec::new(),
        }
    }
}
