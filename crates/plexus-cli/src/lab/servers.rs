//! The lab's servers: a thread inside the server namespace runs a runtime that starts the
//! in-process test servers on request, so their sockets live on the far side of the link.

use std::thread;

use plexus_testkit::{TestCerts, TestServer};
use tokio::sync::{mpsc, oneshot};

use super::link::SERVER_IP;
use super::netns::NetNs;
use crate::scenario::Kind;

/// Which server to start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerSpec {
    pub(crate) kind: Kind,
    /// Offer TLS 1.2 only (TCP servers).
    pub(crate) tls12: bool,
}

type Order = (ServerSpec, oneshot::Sender<Result<TestServer, String>>);

/// Starts servers in the server namespace for as long as it lives.
#[derive(Debug)]
pub(crate) struct ServerHost {
    orders: mpsc::UnboundedSender<Order>,
}

impl ServerHost {
    /// Starts the host thread in `ns`; servers it starts use `certs`.
    pub(crate) fn start(ns: &NetNs, certs: TestCerts) -> Result<ServerHost, String> {
        let (orders, mut inbox) = mpsc::unbounded_channel::<Order>();
        let (ready, entered) = std::sync::mpsc::channel();
        let ns_name = ns.name().to_string();
        thread::Builder::new()
            .name("lab-servers".into())
            .spawn(move || {
                let runtime = NetNs::enter_by_name(&ns_name).and_then(|()| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("server runtime: {e}"))
                });
                let runtime = match runtime {
                    Ok(rt) => {
                        let _ = ready.send(Ok(()));
                        rt
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    while let Some((spec, reply)) = inbox.recv().await {
                        let _ = reply.send(start_server(spec, &certs).await);
                    }
                });
            })
            .map_err(|e| format!("server thread: {e}"))?;
        entered
            .recv()
            .map_err(|_| "the server thread ended".to_string())??;
        Ok(ServerHost { orders })
    }

    /// Starts a server in the server namespace.
    pub(crate) async fn server(&self, spec: ServerSpec) -> Result<TestServer, String> {
        let (reply, answer) = oneshot::channel();
        self.orders
            .send((spec, reply))
            .map_err(|_| "the server thread ended".to_string())?;
        answer
            .await
            .map_err(|_| "the server thread ended".to_string())?
    }
}

async fn start_server(spec: ServerSpec, certs: &TestCerts) -> Result<TestServer, String> {
    let builder = TestServer::builder()
        .bind_ip(SERVER_IP.into())
        .certs(certs.clone());
    let builder = match spec.kind {
        Kind::Http1 => builder.http1_only(),
        Kind::Http2 => builder.h2_only(),
        Kind::Http3 => builder.h3(),
    };
    let builder = if spec.tls12 {
        builder.tls12_only()
    } else {
        builder
    };
    builder
        .start()
        .await
        .map_err(|e| format!("server on {SERVER_IP}: {e}"))
}
