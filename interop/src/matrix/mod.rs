//! The results matrix: every case against every peer that supports it, each in a server
//! of its own, reported as a table, JSON and Markdown.

mod cell;
pub mod plan;
mod report;

use std::io;
use std::path::{Path, PathBuf};

pub use cell::{link_files, start_peer, Fixture, Verdict};
pub use report::{markdown, table, to_json, versions};

/// One cell's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The case (row).
    pub case: &'static str,
    /// The peer (column).
    pub peer: &'static str,
    /// What happened.
    pub verdict: Verdict,
}

/// Writes the test files (and the `post-echo` body and the test CA) under `dir`.
pub fn fixture(dir: &Path, endpoint: PathBuf) -> io::Result<Fixture> {
    let files = dir.join("files");
    std::fs::create_dir_all(&files)?;
    let manifest = crate::files::write_all(&files)?;
    let post_body = dir.join("post-body.bin");
    std::fs::write(&post_body, crate::files::content("post-echo", 300 * 1024))?;
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &plexus_testkit::test_certs().ca_pem)?;
    Ok(Fixture {
        endpoint,
        files,
        manifest,
        post_body,
        ca,
    })
}

/// Runs the chosen cases against the chosen peers (all when a filter is empty), one cell
/// at a time, calling `progress` after each.
pub async fn run(
    fixture: &Fixture,
    cases: &[String],
    peers: &[String],
    mut progress: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let chosen =
        |name: &str, filter: &[String]| filter.is_empty() || filter.iter().any(|f| f == name);
    let mut outcomes = Vec::new();
    for case in plan::CASES.iter().filter(|c| chosen(c, cases)) {
        for peer in plan::PEERS.iter().filter(|p| chosen(p, peers)) {
            let verdict = match plan::plan(case, peer) {
                Ok(p) => cell::run(fixture, case, peer, &p).await,
                Err(why) => Verdict::Unsupported(why.to_string()),
            };
            let outcome = Outcome {
                case,
                peer,
                verdict,
            };
            progress(&outcome);
            outcomes.push(outcome);
        }
    }
    outcomes
}
