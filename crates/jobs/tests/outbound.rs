//! The outbound guard against real sockets: names resolving to refused addresses and
//! redirects to them never get a connection, and what is allowed still works.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use unmogrowp_jobs::outbound::{self, OutboundPolicy};

/// An HTTP server on `address` answering every request with `response`, counting connections.
async fn serve(address: &str, response: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(address).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (port, connections)
}

fn ok() -> String {
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_owned()
}

fn client(policy: &OutboundPolicy) -> reqwest::Client {
    unmogrowp_jobs::install_crypto_provider();
    policy.client().timeout(std::time::Duration::from_secs(5)).build().unwrap()
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_before_connecting() {
    let (port, connections) = serve("127.0.0.1:0", ok()).await;
    // The name is not checked up front here (`check_url` would refuse `localhost` by name):
    // the resolver itself must refuse what the name resolves to.
    let error = client(&OutboundPolicy::default())
        .get(format!("http://localhost:{port}/pb"))
        .send()
        .await
        .expect_err("refused");
    assert_eq!(outbound::describe(&error), "destination refused");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn allowed_ranges_are_reached_by_name_and_by_address() {
    let (port, connections) = serve("127.0.0.1:0", ok()).await;
    let policy = OutboundPolicy::parse(&["127.0.0.0/8".to_owned()]).unwrap();
    for url in [format!("http://localhost:{port}/pb"), format!("http://127.0.0.1:{port}/pb")] {
        let response = client(&policy).get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_not_followed() {
    // 127.0.0.2 is loopback too, but only 127.0.0.1 is allowed.
    let (target_port, target_connections) = serve("127.0.0.2:0", ok()).await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.2:{target_port}/inside\r\n\
         content-length: 0\r\nconnection: close\r\n\r\n"
    );
    let (port, connections) = serve("127.0.0.1:0", redirect).await;
    let policy = OutboundPolicy::parse(&["127.0.0.1/32".to_owned()]).unwrap();
    let error = client(&policy)
        .get(format!("http://127.0.0.1:{port}/pb"))
        .send()
        .await
        .expect_err("the redirect is refused");
    assert_eq!(outbound::describe(&error), "destination refused");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(target_connections.load(Ordering::SeqCst), 0, "the target was never called");
    // The same redirect target, allowed, is followed.
    let open = OutboundPolicy::parse(&["127.0.0.0/8".to_owned()]).unwrap();
    let response = client(&open).get(format!("http://127.0.0.1:{port}/pb")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(target_connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn failures_are_described_without_detail() {
    // A closed port and a refused destination read differently, but neither names the port or
    // the system's error text.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let policy = OutboundPolicy::parse(&["127.0.0.0/8".to_owned()]).unwrap();
    let error = client(&policy)
        .get(format!("http://127.0.0.1:{closed}/"))
        .send()
        .await
        .expect_err("closed");
    assert_eq!(outbound::describe(&error), "connection failed");
}
