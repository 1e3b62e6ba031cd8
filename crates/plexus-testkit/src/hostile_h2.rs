//! A raw HTTP/2 server (cleartext, prior knowledge) that attacks the client's memory with
//! frames no server library will send: a header block that never ends, DATA past the
//! client's flow-control window, a SETTINGS frame far over the client's frame size limit,
//! a flood of SETTINGS frames. Each connection offers up to [`HOSTILE_BYTES`] of it.
//!
//! It also reads what the client sends back — the requests it opens, its SETTINGS
//! acknowledgements, the error codes of its GOAWAY and RST_STREAM frames — and counts
//! what it managed to write, so a test can tell from the server side where the client
//! stopped taking it.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// What each connection offers the client before it gives up: far more than any of the
/// client's limits, so that a client without a limit is caught holding it.
pub const HOSTILE_BYTES: u64 = 256 * 1024 * 1024;

/// What the server does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Hostility {
    /// Answers the first request with a HEADERS frame without END_HEADERS and then
    /// CONTINUATION frames of valid header fields that never end.
    EndlessContinuation,
    /// Answers the first request with HEADERS and then DATA without regard for the
    /// client's window (no WINDOW_UPDATE is waited for).
    DataPastWindow,
    /// Starts the connection with a SETTINGS frame whose length is 16 MiB − 1, far over
    /// the client's `SETTINGS_MAX_FRAME_SIZE`, and sends its payload.
    OversizedSettingsFrame,
    /// After the first request, sends this many full SETTINGS frames (2,730 unknown
    /// settings each, 16 KiB), then answers `200 ok` properly.
    SettingsFlood(u32),
}

/// The hostile server; stops when dropped.
#[derive(Debug)]
pub struct HostileH2Server {
    addr: SocketAddr,
    seen: Arc<Seen>,
    accept: AbortHandle,
}

/// What the server observed, over all connections.
#[derive(Debug, Default)]
struct Seen {
    connections: AtomicU64,
    requests: AtomicU64,
    settings_acks: AtomicU64,
    most_written: AtomicU64,
    writers_done: AtomicU64,
    goaway_codes: Mutex<Vec<u32>>,
    reset_codes: Mutex<Vec<u32>>,
}

impl HostileH2Server {
    /// Binds a fresh port on 127.0.0.1 and starts serving.
    pub async fn start(hostility: H2Hostility) -> io::Result<HostileH2Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Seen::default());
        let shared = Arc::clone(&seen);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, hostility, Arc::clone(&shared)));
            }
        })
        .abort_handle();
        Ok(HostileH2Server { addr, seen, accept })
    }

    /// `http://127.0.0.1:PORT{path}` (HTTP/2 by prior knowledge).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted.
    pub fn connections(&self) -> u64 {
        self.seen.connections.load(Ordering::Relaxed)
    }

    /// Requests (HEADERS frames from the client) received.
    pub fn requests(&self) -> u64 {
        self.seen.requests.load(Ordering::Relaxed)
    }

    /// SETTINGS acknowledgements received from the client.
    pub fn settings_acks(&self) -> u64 {
        self.seen.settings_acks.load(Ordering::Relaxed)
    }

    /// The most bytes the server wrote on any one connection: what the client (and the
    /// kernel's socket buffers) took before the client stopped reading or hung up.
    pub fn most_bytes_written(&self) -> u64 {
        self.seen.most_written.load(Ordering::Relaxed)
    }

    /// Waits (up to 20 s) until every connection has written all it had to offer or
    /// failed to write, so that [`most_bytes_written`](Self::most_bytes_written) is
    /// final; false on time-out, when a client stopped reading and kept the connection
    /// open.
    pub async fn done_writing(&self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.seen.writers_done.load(Ordering::Relaxed) < self.connections() {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Error codes of the GOAWAY frames the client sent.
    pub fn goaway_codes(&self) -> Vec<u32> {
        self.seen.goaway_codes.lock().expect("codes").clone()
    }

    /// Error codes of the RST_STREAM frames the client sent.
    pub fn reset_codes(&self) -> Vec<u32> {
        self.seen.reset_codes.lock().expect("codes").clone()
    }
}

impl Drop for HostileH2Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// The frame size every HTTP/2 peer must accept.
const FRAME: usize = 16_384;
/// HPACK: `:status: 200` from the static table.
const STATUS_200: u8 = 0x88;

/// What the reading half tells the writing half.
enum Heard {
    ClientSettings,
    Request(u32),
    Ping([u8; 8]),
}

async fn serve(stream: TcpStream, hostility: H2Hostility, seen: Arc<Seen>) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_frames(read, tx, Arc::clone(&seen)));
    let mut writer = Writer {
        io: write,
        written: 0,
        seen,
        heard: rx,
    };
    let _ = writer.misbehave(hostility).await;
    writer.seen.writers_done.fetch_add(1, Ordering::Relaxed);
    // Hold the connection open until the client is done with it: what ends it is the
    // client's doing.
    let _ = reader.await;
}

/// Reads the client's frames until it hangs up, recording what matters.
async fn read_frames(mut io: OwnedReadHalf, tx: mpsc::UnboundedSender<Heard>, seen: Arc<Seen>) {
    let mut preface = [0u8; PREFACE.len()];
    if io.read_exact(&mut preface).await.is_err() || preface != PREFACE {
        return;
    }
    let mut head = [0u8; 9];
    let mut payload = Vec::new();
    while io.read_exact(&mut head).await.is_ok() {
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        payload.resize(len, 0);
        if io.read_exact(&mut payload).await.is_err() {
            return;
        }
        let code = |at: usize| {
            payload
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let event = match kind {
            HEADERS => {
                seen.requests.fetch_add(1, Ordering::Relaxed);
                Some(Heard::Request(stream))
            }
            SETTINGS if flags & ACK != 0 => {
                seen.settings_acks.fetch_add(1, Ordering::Relaxed);
                None
            }
            SETTINGS => Some(Heard::ClientSettings),
            PING if flags & ACK == 0 => payload.get(..8).map(|p| {
                let mut opaque = [0u8; 8];
                opaque.copy_from_slice(p);
                Heard::Ping(opaque)
            }),
            GOAWAY => {
                if let Some(code) = code(4) {
                    seen.goaway_codes.lock().expect("codes").push(code);
                }
                None
            }
            RST_STREAM => {
                if let Some(code) = code(0) {
                    seen.reset_codes.lock().expect("codes").push(code);
                }
                None
            }
            _ => None,
        };
        if let Some(event) = event {
            let _ = tx.send(event);
        }
    }
}

/// The writing half, counting what it wrote.
struct Writer {
    io: OwnedWriteHalf,
    written: u64,
    seen: Arc<Seen>,
    heard: mpsc::UnboundedReceiver<Heard>,
}

impl Writer {
    async fn misbehave(&mut self, hostility: H2Hostility) -> io::Result<()> {
        if hostility == H2Hostility::OversizedSettingsFrame {
            self.frame_header(0xff_ffff, SETTINGS, 0, 0).await?;
            return self.flood(None, &[0u8; FRAME]).await;
        }
        self.frame(SETTINGS, 0, 0, &[]).await?;
        let stream = self.wait_for_request().await?;
        match hostility {
            H2Hostility::EndlessContinuation => {
                let fields = junk_header_fields();
                let mut first = vec![STATUS_200];
                first.extend_from_slice(&fields);
                self.frame(HEADERS, 0, stream, &first).await?;
                self.flood(Some((CONTINUATION, stream)), &fields).await
            }
            H2Hostility::DataPastWindow => {
                self.frame(HEADERS, END_HEADERS, stream, &[STATUS_200])
                    .await?;
                self.flood(Some((DATA, stream)), &[b'x'; FRAME]).await
            }
            H2Hostility::SettingsFlood(frames) => {
                // Unknown settings (id 0x0a0a), which a peer must ignore — but acknowledge.
                let settings: Vec<u8> = std::iter::repeat_n([0x0a, 0x0a, 0, 0, 0, 1], FRAME / 6)
                    .flatten()
                    .collect();
                for _ in 0..frames {
                    self.answer_heard().await?;
                    self.frame(SETTINGS, 0, 0, &settings).await?;
                }
                self.frame(HEADERS, END_HEADERS, stream, &[STATUS_200])
                    .await?;
                self.frame(DATA, END_STREAM, stream, b"ok").await?;
                self.io.flush().await
            }
            H2Hostility::OversizedSettingsFrame => unreachable!("handled above"),
        }
    }

    /// Answers what the client sent that a server must answer (SETTINGS, PING) until its
    /// first request arrives; gives its stream id.
    async fn wait_for_request(&mut self) -> io::Result<u32> {
        loop {
            let heard = tokio::time::timeout(Duration::from_secs(10), self.heard.recv())
                .await
                .ok()
                .flatten()
                .ok_or_else(|| io::Error::other("no request"))?;
            match heard {
                Heard::Request(stream) => return Ok(stream),
                other => self.answer(other).await?,
            }
        }
    }

    /// Answers anything heard so far (between flood frames).
    async fn answer_heard(&mut self) -> io::Result<()> {
        while let Ok(heard) = self.heard.try_recv() {
            self.answer(heard).await?;
        }
        Ok(())
    }

    async fn answer(&mut self, heard: Heard) -> io::Result<()> {
        match heard {
            Heard::ClientSettings => self.frame(SETTINGS, ACK, 0, &[]).await,
            Heard::Ping(opaque) => self.frame(PING, ACK, 0, &opaque).await,
            Heard::Request(_) => Ok(()),
        }
    }

    /// Writes `payload` again and again — as frames of `kind` on `stream`, or as raw
    /// bytes when `None` — until [`HOSTILE_BYTES`] are out or the client hangs up.
    async fn flood(&mut self, framing: Option<(u8, u32)>, payload: &[u8]) -> io::Result<()> {
        while self.written < HOSTILE_BYTES {
            match framing {
                Some((kind, stream)) => self.frame(kind, 0, stream, payload).await?,
                None => self.write(payload).await?,
            }
        }
        Ok(())
    }

    async fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> io::Result<()> {
        self.frame_header(payload.len() as u32, kind, flags, stream)
            .await?;
        self.write(payload).await
    }

    async fn frame_header(&mut self, len: u32, kind: u8, flags: u8, stream: u32) -> io::Result<()> {
        let len = len.to_be_bytes();
        let id = stream.to_be_bytes();
        let head = [
            len[1], len[2], len[3], kind, flags, id[0], id[1], id[2], id[3],
        ];
        self.write(&head).await
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.written += bytes.len() as u64;
        self.seen
            .most_written
            .fetch_max(self.written, Ordering::Relaxed);
        Ok(())
    }
}

/// Almost a frame's worth of whole literal header fields (`x-junk: aaa…`, not indexed),
/// valid HPACK one after another, so that a decoder keeps decoding and its header list
/// keeps growing.
fn junk_header_fields() -> Vec<u8> {
    let mut field = vec![0x00, 6];
    field.extend_from_slice(b"x-junk");
    field.push(100);
    field.extend_from_slice(&[b'a'; 100]);
    let fields = (FRAME - 1) / field.len();
    field.repeat(fields)
}
