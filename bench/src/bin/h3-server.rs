//! `h3-server`: the bench's HTTP/3 server — plexus-testkit's in-process h3 server (h3 +
//! quinn) on 127.0.0.1, on a current-thread runtime (one core, like `nghttpd -n 1`).
//! Writes the CA its certificate is signed by to the file named by its one argument,
//! prints its port, then answers every line read on stdin with the number of QUIC
//! connections it has accepted so far. Serves until stdin closes. `/` is 13 bytes,
//! `/bytes/N` N bytes.

use std::io::{BufRead, Write};

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ca_out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "h3-server-ca.pem".into());
    if let Err(e) = std::fs::write(&ca_out, &plexus_testkit::test_certs().ca_pem) {
        eprintln!("h3-server: {ca_out}: {e}");
        std::process::exit(1);
    }
    let server = match rt.block_on(plexus_testkit::TestServer::builder().h3().start()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("h3-server: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", server.port());
    std::thread::scope(|scope| {
        // The server's tasks run while this thread drives the runtime; the queries are
        // answered beside it.
        scope.spawn(|| {
            for _ in std::io::stdin().lock().lines().map_while(Result::ok) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", server.stats().quic_connections);
                let _ = out.flush();
            }
            std::process::exit(0);
        });
        rt.block_on(std::future::pending::<()>());
    });
}
