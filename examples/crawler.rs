//! The crawl behind `examples/crawl.rs`: follow the links of one origin's HTML pages at a
//! fixed concurrency over one shared client, each page once; what it came to.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use http::Uri;
use plexus::{Client, Origin};

/// What a crawl came to.
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlReport {
    /// The origin crawled.
    pub origin: String,
    /// Pages fetched with a response (any status).
    pub pages: u64,
    /// Body bytes read.
    pub bytes: u64,
    /// Pages that ended in an error, by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Links to other origins (or other schemes), not followed.
    pub offsite_links: u64,
    /// Connections the client opened to the origin.
    pub connections: u64,
    /// The protocols the pages came over (`HTTP/2.0`, ...).
    pub protocols: Vec<String>,
    /// The most requests in flight at once on the origin's connections.
    pub peak_in_flight: usize,
    /// From the first request to the last page.
    pub elapsed: Duration,
}

/// Crawls from `start`: fetches it, then every same-origin link found in HTML pages, each
/// URL (without its fragment) once, at most `concurrency` at a time and at most
/// `max_pages` in all.
pub async fn crawl(
    client: &Client,
    start: &str,
    concurrency: usize,
    max_pages: usize,
) -> Result<CrawlReport, plexus::Error> {
    let start: Uri = start.parse().map_err(|e| {
        plexus::Error::new(plexus::ErrorKind::InvalidUrl)
            .with_message(format!("`{start}` is not a URL"))
            .with_source(e)
    })?;
    let origin = Origin::from_uri(&start)?;
    let mut report = CrawlReport {
        origin: origin.to_string(),
        pages: 0,
        bytes: 0,
        errors: BTreeMap::new(),
        offsite_links: 0,
        connections: 0,
        protocols: Vec::new(),
        peak_in_flight: 0,
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    let mut seen: HashSet<String> = HashSet::from([start.to_string()]);
    let mut frontier: VecDeque<Uri> = VecDeque::from([start]);
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < concurrency.max(1) {
            let Some(url) = frontier.pop_front() else {
                break;
            };
            in_flight.push(fetch_page(client, url));
        }
        let Some((url, result)) = in_flight.next().await else {
            break;
        };
        match result {
            Ok(page) => {
                report.pages += 1;
                report.bytes += page.body.len() as u64;
                if !report.protocols.contains(&page.protocol) {
                    report.protocols.push(page.protocol);
                }
                if !page.html {
                    continue;
                }
                for link in links(&page.body).filter_map(|href| join(&url, href)) {
                    if Origin::from_uri(&link).ok().as_ref() != Some(&origin) {
                        report.offsite_links += 1;
                    } else if seen.len() < max_pages && seen.insert(link.to_string()) {
                        frontier.push_back(link);
                    }
                }
            }
            Err(e) => *report.errors.entry(format!("{:?}", e.kind())).or_default() += 1,
        }
    }
    report.elapsed = started.elapsed();
    if let Some(s) = client.snapshot().into_iter().find(|s| s.origin == origin) {
        report.connections = s.connections_opened;
        report.peak_in_flight = s.peak_in_flight;
    }
    Ok(report)
}

struct Page {
    body: bytes::Bytes,
    html: bool,
    protocol: String,
}

async fn fetch_page(client: &Client, url: Uri) -> (Uri, Result<Page, plexus::Error>) {
    let result = async {
        let response = client.get(url.clone()).send().await?;
        let html = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        let protocol = format!("{:?}", response.version());
        let body = response.bytes().await?;
        Ok(Page {
            body,
            html,
            protocol,
        })
    }
    .await;
    (url, result)
}

/// The `href` values of an HTML page, quoted with `"` or `'` (enough for a demo; a real
/// crawler would use an HTML parser).
fn links(html: &[u8]) -> impl Iterator<Item = &str> {
    let text = std::str::from_utf8(html).unwrap_or_default();
    text.split("href=").skip(1).filter_map(|rest| {
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        rest[1..].split(quote).next()
    })
}

/// `href` resolved against the page's URL (RFC 3986, as redirects are), without its
/// fragment; `None` for links to nothing fetchable: a fragment of the page itself,
/// `mailto:` and other schemes, malformed ones.
fn join(base: &Uri, href: &str) -> Option<Uri> {
    let href = href.trim();
    if href.split('#').next().unwrap_or_default().is_empty() {
        return None;
    }
    plexus_core::location::resolve(base, href.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_against_the_page() {
        let base: Uri = "https://a.test:8443/site/9/3?x=1".parse().expect("uri");
        let at = |href: &str| join(&base, href).map(|u| u.to_string());
        assert_eq!(at("7").as_deref(), Some("https://a.test:8443/site/9/7"));
        assert_eq!(at("/x#f").as_deref(), Some("https://a.test:8443/x"));
        assert_eq!(at("//b.test/y").as_deref(), Some("https://b.test/y"));
        assert_eq!(at("http://c.test/").as_deref(), Some("http://c.test/"));
        assert_eq!(at("#top"), None);
        assert_eq!(at("mailto:x@y.test"), None);
        let html = br#"<a href="1">x</a><a href='2'>y</a><a href=3>z</a>"#;
        assert_eq!(links(html).collect::<Vec<_>>(), ["1", "2"]);
    }
}
