//! Reads an NSS key log (`SSLKEYLOGFILE`): one line per secret, `LABEL client_random
//! secret`. Every TLS 1.3 handshake logs a `CLIENT_HANDSHAKE_TRAFFIC_SECRET` under its
//! own client random, and one that offered 0-RTT a `CLIENT_EARLY_TRAFFIC_SECRET` as well,
//! so the file counts handshakes and early-data attempts independently of what the client
//! reports. TLS 1.2 handshakes log one `CLIENT_RANDOM` line each.

use std::collections::BTreeSet;
use std::path::Path;

/// What a key log shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLog {
    /// TLS handshakes (1.3 and 1.2), by distinct client random.
    pub handshakes: usize,
    /// Handshakes that offered 0-RTT early data.
    pub early_data: usize,
}

impl KeyLog {
    /// Parses the key log's text.
    pub fn parse(text: &str) -> KeyLog {
        let mut handshakes = BTreeSet::new();
        let mut early = BTreeSet::new();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(label), Some(random)) = (fields.next(), fields.next()) else {
                continue;
            };
            match label {
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET" | "CLIENT_RANDOM" => {
                    handshakes.insert(random);
                }
                "CLIENT_EARLY_TRAFFIC_SECRET" => {
                    early.insert(random);
                }
                _ => {}
            }
        }
        KeyLog {
            handshakes: handshakes.len(),
            early_data: early.len(),
        }
    }

    /// Reads and parses the file; a missing file shows nothing.
    pub fn read(path: &Path) -> KeyLog {
        KeyLog::parse(&std::fs::read_to_string(path).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::KeyLog;

    #[test]
    fn counts_handshakes_and_early_data_by_client_random() {
        let text = "\
CLIENT_HANDSHAKE_TRAFFIC_SECRET aa 01
SERVER_HANDSHAKE_TRAFFIC_SECRET aa 02
CLIENT_TRAFFIC_SECRET_0 aa 03
CLIENT_EARLY_TRAFFIC_SECRET bb 04
CLIENT_HANDSHAKE_TRAFFIC_SECRET bb 05
CLIENT_RANDOM cc 06
garbage
";
        assert_eq!(
            KeyLog::parse(text),
            KeyLog {
                handshakes: 3,
                early_data: 1
            }
        );
    }
}
