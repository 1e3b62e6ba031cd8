//! `h3-server`: the bench's HTTP/3 server — plexus-testkit's in-process h3 server (h3 +
//! quinn) on 127.0.0.1, on a current-thread runtime (one core, like `nghttpd -n 1`).
//! Writes the CA its certificate is signed by to the file named by its one argument,
//! prints its port, serves until killed. `/` is 13 bytes, `/bytes/N` N bytes.

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
    rt.block_on(async {
        let server = match plexus_testkit::TestServer::builder().h3().start().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("h3-server: {e}");
                std::process::exit(1);
            }
        };
        println!("{}", server.port());
        std::future::pending::<()>().await;
    });
}
