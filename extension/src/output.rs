//! Printing table results: `table` (aligned, for people), `json` (an array
//! of objects keyed by column name, values as strings, like
//! `osqueryi --json`) and `csv`.

use std::io::Write;

use comfy_table::{presets, ContentArrangement, Table as Grid};
use serde_json::{Map, Value};

use crate::table::{Column, Row};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

pub fn to_json(columns: &[Column], rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|row| {
                let mut obj = Map::new();
                for (c, v) in columns.iter().zip(row) {
                    obj.insert(
                        c.name.to_string(),
                        Value::String(v.clone().unwrap_or_default()),
                    );
                }
                Value::Object(obj)
            })
            .collect(),
    )
}

pub fn write(
    out: &mut dyn Write,
    format: Format,
    columns: &[Column],
    rows: &[Row],
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &to_json(columns, rows))?;
            writeln!(out)
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(columns.iter().map(|c| c.name))?;
            for row in rows {
                w.write_record(row.iter().map(|v| v.as_deref().unwrap_or("")))?;
            }
            w.flush()
        }
        Format::Table => {
            let mut grid = Grid::new();
            grid.load_preset(presets::ASCII_MARKDOWN)
                .set_content_arrangement(ContentArrangement::Disabled)
                .set_header(columns.iter().map(|c| c.name));
            for row in rows {
                grid.add_row(row.iter().map(|v| v.as_deref().unwrap_or("")));
            }
            writeln!(out, "{grid}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::ColumnType;

    const COLS: &[Column] = &[
        Column::new("a", ColumnType::Text, "A."),
        Column::new("b", ColumnType::BigInt, "B."),
    ];

    #[test]
    fn formats() {
        let rows = vec![vec![Some("x, \"y\"".to_string()), None]];
        let mut out = Vec::new();
        write(&mut out, Format::Csv, COLS, &rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a,b\n\"x, \"\"y\"\"\",\n");
        let json = to_json(COLS, &rows);
        assert_eq!(json, serde_json::json!([{"a": "x, \"y\"", "b": ""}]));
        let mut out = Vec::new();
        write(&mut out, Format::Table, COLS, &rows).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("| a"));
    }
}
