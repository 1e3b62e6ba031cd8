//! `Alt-Svc` header values (one per input line): never a panic, and what is accepted is
//! sane — a non-empty protocol, a non-zero port, a host without spaces or slashes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_core::alt_svc::AltSvc;

fuzz_target!(|data: &[u8]| {
    let values = data.split(|b| *b == b'\n');
    match AltSvc::parse(values) {
        None | Some(AltSvc::Clear) => {}
        Some(AltSvc::Services(services)) => {
            assert!(!services.is_empty());
            for s in services {
                assert!(!s.protocol.is_empty());
                assert_ne!(s.port, 0);
                if let Some(host) = &s.host {
                    assert!(!host.is_empty());
                    assert!(!host.chars().any(|c| c.is_whitespace() || c == '/'));
                    assert_eq!(host, &host.to_ascii_lowercase());
                }
            }
        }
    }
});
