#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! The table reference in docs/TABLES.md is generated from the schema; this
//! fails when it is stale. Regenerate with
//! `cargo run -q -- tables --format markdown > docs/TABLES.md`.

#[test]
fn table_reference_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/TABLES.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == postern::tables::schema_markdown(),
        "{} is stale: run `cargo run -q -- tables --format markdown > docs/TABLES.md`",
        path.display()
    );
}

#[test]
fn every_column_is_documented_in_osquery_style() {
    for table in postern::tables::all() {
        assert!(
            table
                .name()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch == '_'),
            "{}: table names are snake_case",
            table.name()
        );
        for c in table.columns() {
            assert!(
                c.description.ends_with('.'),
                "{}.{}: one sentence ending in a period",
                table.name(),
                c.name
            );
            assert!(
                c.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{}: snake_case",
                c.name
            );
        }
    }
}

#[test]
fn committed_packs_match_the_catalogs() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let catalog = postern::catalog::Catalog::embedded().unwrap();
    let agents = postern::agents::AgentCatalog::embedded().unwrap();
    for (rel, text) in postern::packs::files(catalog, agents) {
        let committed = std::fs::read_to_string(repo.join(&rel)).unwrap_or_default();
        assert!(
            committed == text,
            "{rel} is stale: run `cargo run -q -- packs generate` and commit the result"
        );
    }
}
