//! Reads the client's qlog directory (`QLOGDIR`): one JSON-SEQ file per QUIC connection,
//! as quinn writes them. A connection whose log shows a Handshake packet received got the
//! server's handshake flight; one that shows 0-RTT packets sent offered early data.

use std::path::Path;

/// What a qlog directory shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QlogDir {
    /// Connection logs (files).
    pub connections: usize,
    /// Those that received a Handshake packet from the server.
    pub handshakes: usize,
    /// Those that sent 0-RTT packets.
    pub early_data: usize,
}

impl QlogDir {
    /// Reads every `*.sqlog` / `*.qlog` file in `dir`; an absent directory shows nothing.
    pub fn read(dir: &Path) -> QlogDir {
        let mut seen = QlogDir::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return seen;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_qlog = path
                .extension()
                .is_some_and(|e| e == "sqlog" || e == "qlog");
            if !is_qlog {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            seen.add(&text);
        }
        seen
    }

    /// Counts one connection's log.
    fn add(&mut self, text: &str) {
        let (mut handshake, mut early) = (false, false);
        for line in text.lines() {
            // JSON-SEQ records may start with the record separator.
            let record = line.trim_start_matches('\u{1e}');
            let Ok(event) = serde_json::from_str::<serde_json::Value>(record) else {
                continue;
            };
            let packet = event["data"]["header"]["packet_type"].as_str();
            match (event["name"].as_str(), packet) {
                (Some("transport:packet_received"), Some("handshake")) => handshake = true,
                (Some("transport:packet_sent"), Some("0RTT")) => early = true,
                _ => {}
            }
        }
        self.connections += 1;
        self.handshakes += usize::from(handshake);
        self.early_data += usize::from(early);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_handshakes_and_early_data_per_connection() {
        let mut seen = QlogDir::default();
        seen.add(concat!(
            "\u{1e}{\"qlog_version\":\"0.3\"}\n",
            "{\"name\":\"transport:packet_sent\",\"data\":{\"header\":{\"packet_type\":\"initial\"}}}\n",
            "{\"name\":\"transport:packet_sent\",\"data\":{\"header\":{\"packet_type\":\"0RTT\"}}}\n",
            "\u{1e}{\"name\":\"transport:packet_received\",\"data\":{\"header\":{\"packet_type\":\"handshake\"}}}\n",
        ));
        seen.add("{\"name\":\"transport:packet_sent\",\"data\":{\"header\":{\"packet_type\":\"initial\"}}}\n");
        assert_eq!(
            seen,
            QlogDir {
                connections: 2,
                handshakes: 1,
                early_data: 1
            }
        );
    }
}
