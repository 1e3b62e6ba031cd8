//! `--write-out` templates: never a panic; a template without `%` or `\` renders as
//! itself; every variable's value lands in the output.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The CLI is a binary crate with every dependency of the client; its template module
// depends on nothing but std, so the target compiles that one file.
#[allow(dead_code)]
#[path = "../../crates/plexus-cli/src/write_out.rs"]
mod write_out;

use write_out::{Template, Vars};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let template = Template::parse(src);
    let _ = template.unknown_vars();
    let vars = Vars {
        http_version: "2".into(),
        response_code: 200,
        url: "https://example.com/".into(),
        errormsg: "%{url}".into(),
        ..Vars::default()
    };
    let out = template.render(&vars);
    if !src.contains('%') && !src.contains('\\') {
        assert_eq!(out, src);
    }
    if src == "%{url}" {
        assert_eq!(out, vars.url);
    }
});
