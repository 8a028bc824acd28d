//! postern: an osquery extension and audit CLI that notices when a company
//! laptop is being driven by someone else — remote access tools, broken
//! security controls, software that arrived after enrollment.
//!
//! The binary is thin ([`cli`]); everything here is a library a test can call.

pub mod agents;
pub mod audit;
pub mod baseline;
pub mod catalog;
pub mod cli;
pub mod controls;
pub mod engine;
pub mod eol;
pub mod host;
pub mod inventory;
pub mod output;
pub mod packs;
pub mod pending;
pub mod policy;
pub mod report;
pub mod root;
pub mod runtime;
pub mod table;
pub mod tables;
