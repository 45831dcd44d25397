//! `/api/v1/live`: a WebSocket that streams one organization's new installs and events.
//!
//! The first message must be `{"token": "<access token>"}` (optionally `"org_id"`), sent
//! within 10 seconds; then the server sends `{"type": "ready", …}`, one JSON message per
//! stored install, open, session, event, click or impression of the organization, and a
//! `{"type": "heartbeat"}` every 20 seconds (when it also re-checks the session).
//!
//! Each connection has a relay task that takes the pipeline's feed, keeps the organization's
//! messages and queues them (at most [`QUEUE`]) for the socket. A client whose queue fills up
//! cannot keep up and is disconnected with close code 1013 instead of being buffered for. A
//! burst the relay itself could not follow (the pipeline publishing a large batch at once) is
//! not the client's fault: it gets `{"type": "gap"}` (messages were skipped; re-read the
//! reports) and stays connected.
//!
//! With `"batch": true` in the first message, messages that queue up while the socket is busy
//! arrive together as `{"type": "batch", "messages": [...]}` (at most [`BATCH`] per frame), which
//! saves frames and client wake-ups under load; otherwise each is its own frame.
//!
//! The connection also carries collaboration ([`crate::collab`]): the client may send
//! `{"type": "presence", "view": "<what it looks at>" | null}` (at most [`PRESENCE_UPDATES`]
//! per [`PRESENCE_WINDOW`], else 1008); the organization's presence and annotation messages
//! are relayed like the feed's (skipped ones give a `gap` too). `ready` carries the
//! connection's `connection_id` and the `viewers` so far. A user holds at most
//! [`MAX_CONNECTIONS_PER_USER`] connections per node; client messages are at most 16 KiB; the
//! server pings at every heartbeat and drops a client silent for 50 s; a heartbeat also ends
//! the connection of a member removed from the organization.

use crate::auth::context::authenticate;
use crate::state::AppState;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(20);
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Policy violation (bad or missing token, ended session).
const CLOSE_POLICY: u16 = 1008;
/// Try again later (the client was too slow).
const CLOSE_TRY_AGAIN: u16 = 1013;
/// Messages waiting for one client's socket before it counts as too slow.
const QUEUE: usize = 8192;
/// The most messages one batch frame carries.
pub const BATCH: usize = 256;
/// Presence updates a client may send per [`PRESENCE_WINDOW`] before it is disconnected.
pub const PRESENCE_UPDATES: u32 = 30;
/// The window [`PRESENCE_UPDATES`] is counted in.
pub const PRESENCE_WINDOW: Duration = Duration::from_secs(10);
/// Live connections one user may hold on one node (tabs, devices); more are closed with 1008.
pub const MAX_CONNECTIONS_PER_USER: usize = 16;
/// The largest message a client may send (its first message and presence updates are small).
const MAX_CLIENT_MESSAGE: usize = 16 * 1024;
/// A client not heard from (pongs included: the server pings at every heartbeat) for this long
/// is gone without closing (a sleeping laptop, a dropped network) and is disconnected.
const SILENCE_LIMIT: Duration = Duration::from_secs(50);

enum Outgoing {
    Message(std::sync::Arc<unmogrowp_pipeline::LiveMessage>),
    Collab(std::sync::Arc<crate::collab::CollabMessage>),
    Gap,
}

impl Outgoing {
    /// The message as JSON text (a collaboration message's was written once for everyone).
    fn to_text(&self) -> String {
        match self {
            Outgoing::Message(message) => {
                serde_json::to_string(message.as_ref()).unwrap_or_default()
            }
            Outgoing::Collab(message) => message.text.to_string(),
            Outgoing::Gap => r#"{"type":"gap"}"#.to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct Hello {
    token: String,
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    batch: bool,
}

/// What a client may send after the first message.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Presence { view: Option<String> },
}

/// Live installs and events of the caller's organization (WebSocket; authenticate with the
/// first message `{"token": "<access token>"}`).
#[utoipa::path(get, path = "/api/v1/live", tag = "reports",
    responses((status = 101, description = "Switching to the WebSocket protocol")))]
pub async fn live(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(socket, state))
}

/// Sends a close frame, giving up after [`SEND_TIMEOUT`] (a client that reads nothing must not
/// keep the connection's task alive).
async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await;
}

async fn send_json(socket: &mut WebSocket, value: &serde_json::Value) -> bool {
    send(socket, Message::Text(value.to_string().into())).await
}

async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await, Ok(Ok(())))
}

/// One of a user's live connections on this node; released when dropped.
struct UserConnection {
    state: AppState,
    user_id: String,
}

impl UserConnection {
    /// Counts a connection of `user_id`; `None` when the user already holds
    /// [`MAX_CONNECTIONS_PER_USER`].
    fn admit(state: &AppState, user_id: &str) -> Option<Self> {
        state
            .collab
            .admit_connection(user_id, MAX_CONNECTIONS_PER_USER)
            .then(|| Self { state: state.clone(), user_id: user_id.to_owned() })
    }
}

impl Drop for UserConnection {
    fn drop(&mut self) {
        self.state.collab.release_connection(&self.user_id);
    }
}

async fn serve(mut socket: WebSocket, state: AppState) {
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Hello>(&text).ok(),
        _ => None,
    };
    let Some(hello) = hello else {
        return close(socket, CLOSE_POLICY, "send {\"token\": \"<access token>\"} first").await;
    };
    let auth = match authenticate(&state, hello.token.trim(), hello.org_id.as_deref()).await {
        Ok(auth) => auth,
        Err(_) => return close(socket, CLOSE_POLICY, "invalid access token").await,
    };
    let Some(_counted) = UserConnection::admit(&state, auth.user_id.as_str()) else {
        return close(socket, CLOSE_POLICY, "too many live connections for this user").await;
    };
    let org_id = auth.org_id().to_string();
    let name = match state.store.accounts().user(&auth.user_id).await {
        Ok(Some(user)) => user.name,
        _ => auth.email.clone(),
    };
    let (mut queue, slow, _relay) = relay(&state, &org_id);
    let connection_id = state.collab.connection_id();
    metrics::gauge!(crate::metric_names::LIVE_CONNECTIONS).increment(1.0);
    let ready = serde_json::json!({
        "type": "ready",
        "organization_id": org_id,
        "connection_id": connection_id,
        "viewers": state.collab.viewers(&org_id),
    });
    if send_json(&mut socket, &ready).await {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        let mut presence = PresenceBudget::new();
        let mut last_heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                item = queue.recv() => {
                    if slow.load(std::sync::atomic::Ordering::Relaxed) || item.is_none() {
                        if slow.load(std::sync::atomic::Ordering::Relaxed) {
                            // The queue overflowed: close now rather than after draining it.
                            metrics::counter!(crate::metric_names::LIVE_SLOW_CLIENTS_TOTAL).increment(1);
                            close(socket, CLOSE_TRY_AGAIN, "too slow; reconnect").await;
                        }
                        break;
                    }
                    let Some(first) = item else { break };
                    let text = if hello.batch { batch(&first, &mut queue) } else { first.to_text() };
                    if !send(&mut socket, Message::Text(text.into())).await {
                        metrics::counter!(crate::metric_names::LIVE_SLOW_CLIENTS_TOTAL).increment(1);
                        close(socket, CLOSE_TRY_AGAIN, "too slow; reconnect").await;
                        break;
                    }
                },
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > SILENCE_LIMIT {
                        // Not even a pong: the client is gone without closing.
                        break;
                    }
                    if let Err(reason) = still_allowed(&state, &auth).await {
                        close(socket, CLOSE_POLICY, reason).await;
                        break;
                    }
                    let now = unmogrowp_domain::time::now_millis();
                    let beat = serde_json::json!({ "type": "heartbeat", "at": unmogrowp_domain::time::rfc3339(now) });
                    if !send_json(&mut socket, &beat).await || !send(&mut socket, Message::Ping(Default::default())).await {
                        break;
                    }
                }
                incoming = socket.recv() => {
                    last_heard = tokio::time::Instant::now();
                    match incoming {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(Message::Text(text))) => {
                            let Ok(ClientMessage::Presence { view }) = serde_json::from_str(&text) else {
                                continue;
                            };
                            if !presence.take() {
                                close(socket, CLOSE_POLICY, "too many presence updates").await;
                                break;
                            }
                            let viewer = view.as_deref().and_then(crate::collab::clean_view).map(|view| {
                                crate::collab::Viewer {
                                    connection_id,
                                    user_id: auth.user_id.to_string(),
                                    name: name.clone(),
                                    view,
                                    since: unmogrowp_domain::time::rfc3339(unmogrowp_domain::time::now_millis()),
                                }
                            });
                            state.collab.set(&org_id, connection_id, viewer);
                        }
                        Some(Ok(_)) => {}
                    }
                },
            }
        }
    }
    state.collab.set(&org_id, connection_id, None);
    metrics::gauge!(crate::metric_names::LIVE_CONNECTIONS).decrement(1.0);
}

/// Whether the connection may go on: its session is live and its user still a member of the
/// organization (a removed member stops hearing it at the next heartbeat). The reason if not.
async fn still_allowed(state: &AppState, auth: &crate::auth::Auth) -> Result<(), &'static str> {
    let now = unmogrowp_domain::time::now_millis();
    let Some(session_id) = &auth.session_id else { return Err("the session has ended") };
    let session = state.auth.session(&state.store, session_id).await;
    if !matches!(session, Ok(Some(session)) if session.is_active(now)) {
        return Err("the session has ended");
    }
    let membership = state.auth.membership(&state.store, &auth.user_id, auth.org_id()).await;
    if !matches!(membership, Ok(Some(_))) {
        return Err("no longer a member of this organization");
    }
    Ok(())
}

/// `first` and what else is queued (at most [`BATCH`] in all) as one frame's text.
fn batch(first: &Outgoing, queue: &mut tokio::sync::mpsc::Receiver<Outgoing>) -> String {
    let mut messages = vec![first.to_text()];
    while messages.len() < BATCH {
        match queue.try_recv() {
            Ok(next) => messages.push(next.to_text()),
            Err(_) => break,
        }
    }
    if messages.len() == 1 {
        return messages.pop().unwrap_or_default();
    }
    metrics::counter!(crate::metric_names::LIVE_BATCHES_TOTAL).increment(1);
    format!(r#"{{"type":"batch","messages":[{}]}}"#, messages.join(","))
}

type Relay = (
    tokio::sync::mpsc::Receiver<Outgoing>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    AbortOnDrop,
);

/// A task that takes the pipeline's feed and the collaboration broadcast, keeps the
/// organization's messages and queues them for the socket (at most [`QUEUE`]); the flag turns
/// true when the queue overflowed (the task has then stopped).
fn relay(state: &AppState, org_id: &str) -> Relay {
    let mut feed = state.pipeline.subscribe();
    let mut collab = state.collab.subscribe();
    let (queue_sender, queue) = tokio::sync::mpsc::channel::<Outgoing>(QUEUE);
    let slow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let relay_slow = slow.clone();
    let relay_org = org_id.to_owned();
    let task = tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                received = feed.recv() => match received {
                    Ok(message) if message.org_id == relay_org => Outgoing::Message(message),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {
                        // The count covers every organization: not the client's business.
                        metrics::counter!(crate::metric_names::LIVE_GAPS_TOTAL).increment(1);
                        Outgoing::Gap
                    }
                    Err(RecvError::Closed) => return,
                },
                received = collab.recv() => match received {
                    Ok(message) if message.org_id == relay_org => Outgoing::Collab(message),
                    Ok(_) => continue,
                    // Skipped announcements are the client's to re-read, like skipped records.
                    Err(RecvError::Lagged(_)) => {
                        metrics::counter!(crate::metric_names::LIVE_GAPS_TOTAL).increment(1);
                        Outgoing::Gap
                    }
                    Err(RecvError::Closed) => return,
                },
            };
            match queue_sender.try_send(item) {
                Ok(()) => {}
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    relay_slow.store(true, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    });
    (queue, slow, AbortOnDrop(task))
}

/// Counts a connection's presence updates in fixed windows of [`PRESENCE_WINDOW`].
struct PresenceBudget {
    window_start: tokio::time::Instant,
    used: u32,
}

impl PresenceBudget {
    fn new() -> Self {
        Self { window_start: tokio::time::Instant::now(), used: 0 }
    }

    /// Whether one more update fits.
    fn take(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.window_start) >= PRESENCE_WINDOW {
            self.window_start = now;
            self.used = 0;
        }
        self.used += 1;
        self.used <= PRESENCE_UPDATES
    }
}

/// Stops the relay task when the connection ends, whichever way.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
