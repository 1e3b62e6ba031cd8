//! `Client` as a [`tower_service::Service`], so that tower's layers (timeouts, rate and
//! concurrency limits, retries, load shedding) compose around it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Request;
use plexus_core::{Body, Error};

use crate::client::Client;
use crate::response::Response;

/// Sends an [`http::Request`] with a [`Body`] (map another body type with
/// `request.map(Body::from)` or [`Body::wrap`]; one concrete request type keeps
/// `ServiceExt::ready` free of type annotations). Always ready: the client queues requests
/// itself (per origin, bounded); a tower limit layer in front bounds them further.
impl tower_service::Service<Request<Body>> for Client {
    type Response = Response;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + 'static>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let client = self.clone();
        Box::pin(async move { client.execute(request).await })
    }
}
