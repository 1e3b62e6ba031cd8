//! Lines of the alt-svc file (curl's format): never a panic; a line that parses is
//! written back as a line that parses to the same alternative.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The file format is one std-only module of the plexus facade.
#[allow(dead_code)]
#[path = "../../crates/plexus/src/alt_svc_file.rs"]
mod alt_svc_file;

use alt_svc_file::{format_line, parse_line};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Some((key, alt)) = parse_line(line) else {
        return;
    };
    let written = format_line(&key.0, key.1, &alt);
    assert!(!written.contains('\n'), "{written:?}");
    assert_eq!(
        parse_line(&written),
        Some((key, alt)),
        "{line:?} written as {written:?}"
    );
});
