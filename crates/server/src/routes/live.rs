//! `/api/v1/live`: a WebSocket that streams one organization's new installs and events.
//!
//! The first message must be `{"token": "<access token>"}` (optionally `"org_id"`), sent
//! within 10 seconds; then the server sends `{"type": "ready", …}`, one JSON message per
//! stored install, open, session, event, click or impression of the organization, and a
//! `{"type": "heartbeat"}` every 20 seconds (when it also re-checks the session). A client
//! that cannot keep up is disconnected with close code 1013 instead of being buffered for.

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

#[derive(Deserialize)]
struct Hello {
    token: String,
    #[serde(default)]
    org_id: Option<String>,
}

/// Live installs and events of the caller's organization (WebSocket; authenticate with the
/// first message `{"token": "<access token>"}`).
#[utoipa::path(get, path = "/api/v1/live", tag = "reports",
    responses((status = 101, description = "Switching to the WebSocket protocol")))]
pub async fn live(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| serve(socket, state))
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) })))
        .await;
}

async fn send_json(socket: &mut WebSocket, value: &serde_json::Value) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(value.to_string().into())))
            .await,
        Ok(Ok(()))
    )
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
    let org_id = auth.org_id().to_string();
    let mut feed = state.pipeline.subscribe();
    metrics::gauge!("live_connections").increment(1.0);
    let ready = serde_json::json!({ "type": "ready", "organization_id": org_id });
    if !send_json(&mut socket, &ready).await {
        metrics::gauge!("live_connections").decrement(1.0);
        return;
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            message = feed.recv() => match message {
                Ok(message) => {
                    if message.org_id != org_id {
                        continue;
                    }
                    let value = serde_json::to_value(message.as_ref()).unwrap_or_default();
                    if !send_json(&mut socket, &value).await {
                        close(socket, CLOSE_TRY_AGAIN, "too slow; reconnect").await;
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    metrics::counter!("live_slow_clients_total").increment(1);
                    close(socket, CLOSE_TRY_AGAIN, "too slow; reconnect").await;
                    break;
                }
                Err(RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => {
                let now = jiff::Timestamp::now().as_millisecond();
                let live = matches!(state.auth.session(&state.store, &auth.session_id).await, Ok(Some(session)) if session.is_active(now));
                if !live {
                    close(socket, CLOSE_POLICY, "the session has ended").await;
                    break;
                }
                if !send_json(&mut socket, &serde_json::json!({ "type": "heartbeat", "at": unmogrowp_domain::time::rfc3339(now) })).await {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    metrics::gauge!("live_connections").decrement(1.0);
}
