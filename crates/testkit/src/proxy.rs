//! A loopback TCP proxy that a test can cut, to make a backend unreachable for the app under
//! test without stopping the shared test server.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub struct TcpProxy {
    pub addr: SocketAddr,
    cut: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), target).await
    }

    /// A proxy listening on `listen` (e.g. the address of one that was cut, to bring the
    /// backend back where the app expects it).
    pub async fn start_on(listen: SocketAddr, target: SocketAddr) -> Self {
        let listener = TcpListener::bind(listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(Notify::new());
        let cut_signal = cut.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    () = cut_signal.notified() => break,
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        connections.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                }
            }
            // Dropping the listener refuses new connections; aborting the set closes the
            // established ones, as a stopped server would.
            connections.abort_all();
        });
        Self { addr, cut, task }
    }

    /// Closes every connection and stops listening.
    pub async fn cut(self) {
        self.cut.notify_one();
        let _ = self.task.await;
    }
}
