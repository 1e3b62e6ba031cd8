//! curl's `-w/--write-out` templates: `%{variable}` substitutions and `\n`, `\r`, `\t`
//! escapes; `%%` is a literal `%`. Unknown variables print nothing and warn once, as curl
//! does.

use std::fmt::Write as _;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Var(String),
}

/// A parsed `--write-out` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

/// The values a template can name, for one transfer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    pub(crate) http_version: String,
    pub(crate) response_code: u16,
    pub(crate) time_connect: f64,
    pub(crate) time_appconnect: f64,
    pub(crate) time_starttransfer: f64,
    pub(crate) time_total: f64,
    pub(crate) size_download: u64,
    pub(crate) num_connects: u32,
    pub(crate) remote_ip: String,
    pub(crate) remote_port: u16,
    pub(crate) url: String,
    pub(crate) num_retries: usize,
    pub(crate) errormsg: String,
    pub(crate) time_namelookup: f64,
    pub(crate) time_pretransfer: f64,
    /// plexus's own: `h1`, `h2` or `h3`.
    pub(crate) protocol: String,
    /// plexus's own: 1 when the connection had carried requests before.
    pub(crate) reused: u8,
    /// plexus's own: 1 when the request went in accepted 0-RTT early data.
    pub(crate) zero_rtt: u8,
}

const KNOWN: [&str; 18] = [
    "http_version",
    "response_code",
    "time_connect",
    "time_appconnect",
    "time_starttransfer",
    "time_total",
    "size_download",
    "num_connects",
    "remote_ip",
    "remote_port",
    "url",
    "num_retries",
    "errormsg",
    "time_namelookup",
    "time_pretransfer",
    "protocol",
    "reused",
    "zero_rtt",
];

impl Template {
    /// Parses a template. Never fails: malformed pieces are kept as text.
    pub(crate) fn parse(src: &str) -> Template {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '%' if chars.peek() == Some(&'%') => {
                    chars.next();
                    text.push('%');
                }
                '%' if chars.peek() == Some(&'{') => {
                    chars.next();
                    let mut name = String::new();
                    let mut closed = false;
                    for n in chars.by_ref() {
                        if n == '}' {
                            closed = true;
                            break;
                        }
                        name.push(n);
                    }
                    if closed {
                        if !text.is_empty() {
                            pieces.push(Piece::Text(std::mem::take(&mut text)));
                        }
                        pieces.push(Piece::Var(name));
                    } else {
                        text.push_str("%{");
                        text.push_str(&name);
                    }
                }
                '\\' => match chars.next() {
                    Some('n') => text.push('\n'),
                    Some('r') => text.push('\r'),
                    Some('t') => text.push('\t'),
                    Some(other) => {
                        text.push('\\');
                        text.push(other);
                    }
                    None => text.push('\\'),
                },
                other => text.push(other),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Template { pieces }
    }

    /// Variables the template names that are not known.
    pub(crate) fn unknown_vars(&self) -> Vec<&str> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Var(v) if !KNOWN.contains(&v.as_str()) => Some(v.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The template filled in with `vars`.
    pub(crate) fn render(&self, vars: &Vars) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => {
                    let _ = match v.as_str() {
                        "http_version" => write!(out, "{}", vars.http_version),
                        "response_code" => write!(out, "{}", vars.response_code),
                        "time_connect" => write!(out, "{:.6}", vars.time_connect),
                        "time_appconnect" => write!(out, "{:.6}", vars.time_appconnect),
                        "time_starttransfer" => write!(out, "{:.6}", vars.time_starttransfer),
                        "time_total" => write!(out, "{:.6}", vars.time_total),
                        "size_download" => write!(out, "{}", vars.size_download),
                        "num_connects" => write!(out, "{}", vars.num_connects),
                        "remote_ip" => write!(out, "{}", vars.remote_ip),
                        "remote_port" => write!(out, "{}", vars.remote_port),
                        "url" => write!(out, "{}", vars.url),
                        "num_retries" => write!(out, "{}", vars.num_retries),
                        "errormsg" => write!(out, "{}", vars.errormsg),
                        "time_namelookup" => write!(out, "{:.6}", vars.time_namelookup),
                        "time_pretransfer" => write!(out, "{:.6}", vars.time_pretransfer),
                        "protocol" => write!(out, "{}", vars.protocol),
                        "reused" => write!(out, "{}", vars.reused),
                        "zero_rtt" => write!(out, "{}", vars.zero_rtt),
                        _ => Ok(()),
                    };
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_curl_variables_and_escapes() {
        let t = Template::parse(
            "%{http_version} %{response_code} %{size_download}B 100%% %{time_total}\\n",
        );
        let vars = Vars {
            http_version: "2".into(),
            response_code: 200,
            size_download: 13,
            time_total: 0.25,
            ..Vars::default()
        };
        assert_eq!(t.render(&vars), "2 200 13B 100% 0.250000\n");
        assert!(t.unknown_vars().is_empty());
    }

    #[test]
    fn tolerates_malformed_templates() {
        let t = Template::parse("a %{nope} %x \\q \\");
        assert_eq!(t.unknown_vars(), vec!["nope"]);
        assert_eq!(t.render(&Vars::default()), "a  %x \\q \\");
        let t = Template::parse("%{unclosed");
        assert_eq!(t.render(&Vars::default()), "%{unclosed");
    }
}
