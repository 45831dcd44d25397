//! Collaboration over the live connection (`/api/v1/live`): who in an organization is looking
//! at which report (presence), and chart annotations as members make and delete them.
//!
//! Each live connection may say what it is looking at with `{"type": "presence", "view":
//! "<text>"}` (`view: null` to say nothing). Whenever an organization's set of viewers changes,
//! every live connection of that organization gets `{"type": "presence", "viewers": [{
//! connection_id, user_id, name, view, since}]}`: the whole set, so a client that missed a
//! message is right again at the next one. Annotation changes reach the organization's
//! connections as `{"type": "annotation", "action": "created" | "deleted", "annotation": {…}}`.
//!
//! In the cluster tier the nodes serving live connections share all of this through the
//! event log's collaboration relay (core NATS `<prefix>.collab`, best effort): each node
//! publishes its own connections' viewers per organization when they change and every
//! [`REFRESH`] (a node that stops refreshing is forgotten after [`EXPIRY`]), and announcements
//! to an organization reach its connections on every node. Each node merges the others'
//! viewers with its own.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// The longest `view` kept (characters); longer ones are cut.
pub const MAX_VIEW_CHARS: usize = 200;
/// The most viewers one presence message lists (the earliest arrivals).
pub const MAX_VIEWERS: usize = 200;
/// Messages waiting for the slowest live connection before it skips some.
const CHANNEL: usize = 1024;
/// How often a node republishes its viewers to the others.
pub const REFRESH: Duration = Duration::from_secs(15);
/// How long another node's viewers count without a refresh (its connections may be gone).
pub const EXPIRY: Duration = Duration::from_secs(45);
/// Payloads waiting for the relay; more are dropped (best effort, the next refresh repairs).
const RELAY_QUEUE: usize = 1024;

/// A message for every live connection of one organization.
#[derive(Debug)]
pub struct CollabMessage {
    /// The organization whose connections get it.
    pub org_id: String,
    /// The JSON sent as it is.
    pub body: serde_json::Value,
    /// `body` as text, written once for every connection.
    pub text: Arc<str>,
}

/// One live connection's presence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// The live connection (a user with two tabs open has two), random so that connections of
    /// different nodes do not collide (below 2⁵³, exact in JavaScript).
    pub connection_id: u64,
    /// The member.
    pub user_id: String,
    /// The member's display name.
    pub name: String,
    /// What the connection said it is looking at (e.g. `overview:<app id>`).
    pub view: String,
    /// Since when (RFC 3339, UTC).
    pub since: String,
}

/// What the nodes tell each other.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    /// A message for the organization's live connections.
    Broadcast { node: String, org_id: String, body: serde_json::Value },
    /// All viewers the node holds for the organization (empty: none any more).
    Presence { node: String, org_id: String, viewers: Vec<Viewer> },
}

#[derive(Default)]
struct Presence {
    /// This node's connections, per organization.
    local: HashMap<String, BTreeMap<u64, Viewer>>,
    /// Other nodes' viewers per organization and node, with when they were last heard.
    remote: HashMap<String, HashMap<String, (Vec<Viewer>, Instant)>>,
}

impl Presence {
    /// Every viewer of the organization: this node's and the others' still fresh ones, by
    /// arrival, at most [`MAX_VIEWERS`].
    fn merged(&self, org_id: &str, now: Instant) -> Vec<Viewer> {
        let mut all: Vec<Viewer> =
            self.local.get(org_id).map(|org| org.values().cloned().collect()).unwrap_or_default();
        if let Some(nodes) = self.remote.get(org_id) {
            for (viewers, heard) in nodes.values() {
                if now.duration_since(*heard) < EXPIRY {
                    all.extend(viewers.iter().cloned());
                }
            }
        }
        // `since` is RFC 3339 with a varying number of fraction digits: compared as times.
        let at = |viewer: &Viewer| viewer.since.parse::<jiff::Timestamp>().ok();
        all.sort_by_key(|viewer| (at(viewer), viewer.connection_id));
        all.truncate(MAX_VIEWERS);
        all
    }

    fn local_viewers(&self, org_id: &str) -> Vec<Viewer> {
        self.local.get(org_id).map(|org| org.values().cloned().collect()).unwrap_or_default()
    }
}

/// Presence per organization and the broadcast of collaboration messages.
pub struct Collab {
    node: String,
    sender: broadcast::Sender<Arc<CollabMessage>>,
    presence: std::sync::Mutex<Presence>,
    relay: std::sync::OnceLock<mpsc::Sender<Vec<u8>>>,
    connections: std::sync::Mutex<HashMap<String, usize>>,
}

impl Default for Collab {
    fn default() -> Self {
        Self::new()
    }
}

impl Collab {
    /// No viewers yet; not relayed to other nodes until [`Collab::relay`] runs.
    pub fn new() -> Self {
        Self {
            node: uuid::Uuid::new_v4().to_string(),
            sender: broadcast::channel(CHANNEL).0,
            presence: std::sync::Mutex::new(Presence::default()),
            relay: std::sync::OnceLock::new(),
            connections: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Counts one more live connection of `user_id` on this node, unless it already has
    /// `limit` (then `false`). Each `true` needs one [`Collab::release_connection`].
    pub fn admit_connection(&self, user_id: &str, limit: usize) -> bool {
        let mut connections =
            self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = connections.entry(user_id.to_owned()).or_default();
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }

    /// One live connection of `user_id` ended.
    pub fn release_connection(&self, user_id: &str) {
        let mut connections =
            self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = connections.get_mut(user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                connections.remove(user_id);
            }
        }
    }

    /// A new connection's id: random below 2⁵³.
    pub fn connection_id(&self) -> u64 {
        rand::random::<u64>() >> 11
    }

    /// Every collaboration message from now on (each connection keeps its organization's).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CollabMessage>> {
        self.sender.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Presence> {
        self.presence.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn deliver(&self, org_id: &str, body: serde_json::Value) {
        let text = Arc::from(body.to_string());
        // No receiver means no live connection here: nothing to tell.
        let _ = self.sender.send(Arc::new(CollabMessage { org_id: org_id.to_owned(), body, text }));
    }

    fn tell_nodes(&self, wire: &Wire) {
        if let (Some(relay), Ok(payload)) = (self.relay.get(), serde_json::to_vec(wire)) {
            // Best effort: a full relay queue drops it, the next refresh repairs presence.
            let _ = relay.try_send(payload);
        }
    }

    /// Sends `body` to every live connection of `org_id`, on every node.
    pub fn publish(&self, org_id: &str, body: serde_json::Value) {
        self.tell_nodes(&Wire::Broadcast {
            node: self.node.clone(),
            org_id: org_id.to_owned(),
            body: body.clone(),
        });
        self.deliver(org_id, body);
    }

    /// Sets (`Some`) or clears (`None`) what this node's connection `connection_id` looks at,
    /// and tells the organization when that changed the set. A connection that says the same
    /// view again keeps its `since`.
    pub fn set(&self, org_id: &str, connection_id: u64, viewer: Option<Viewer>) {
        // Told while the lock is held (both sends only queue), so concurrent changes reach
        // every receiver in the order they were made and the last set is the true one.
        {
            let mut presence = self.lock();
            let org = presence.local.entry(org_id.to_owned()).or_default();
            let changed = match viewer {
                Some(viewer)
                    if org.get(&connection_id).is_some_and(|old| old.view == viewer.view) =>
                {
                    false
                }
                Some(viewer) => {
                    org.insert(connection_id, viewer);
                    true
                }
                None => org.remove(&connection_id).is_some(),
            };
            if org.is_empty() {
                presence.local.remove(org_id);
            }
            if !changed {
                return;
            }
            let (merged, local) =
                (presence.merged(org_id, Instant::now()), presence.local_viewers(org_id));
            self.tell_nodes(&Wire::Presence {
                node: self.node.clone(),
                org_id: org_id.to_owned(),
                viewers: local,
            });
            self.deliver(org_id, presence_message(&merged));
        }
    }

    /// The organization's viewers now, on every node, earliest arrival first.
    pub fn viewers(&self, org_id: &str) -> Vec<Viewer> {
        self.lock().merged(org_id, Instant::now())
    }

    /// Takes in another node's payload (this node's own are skipped).
    fn receive(&self, payload: &[u8], now: Instant) {
        match serde_json::from_slice::<Wire>(payload) {
            Ok(Wire::Broadcast { node, .. } | Wire::Presence { node, .. }) if node == self.node => {
            }
            Ok(Wire::Broadcast { org_id, body, .. }) => self.deliver(&org_id, body),
            Ok(Wire::Presence { node, org_id, viewers }) => {
                let mut presence = self.lock();
                let before = presence.merged(&org_id, now);
                let nodes = presence.remote.entry(org_id.clone()).or_default();
                if viewers.is_empty() {
                    nodes.remove(&node);
                } else {
                    nodes.insert(node, (viewers, now));
                }
                if nodes.is_empty() {
                    presence.remote.remove(&org_id);
                }
                let after = presence.merged(&org_id, now);
                if after != before {
                    self.deliver(&org_id, presence_message(&after));
                }
            }
            Err(error) => tracing::warn!(%error, "skipping an unreadable collaboration payload"),
        }
    }

    /// Republishes this node's viewers of every organization, and forgets other nodes'
    /// viewers not heard of for [`EXPIRY`] (telling the organizations concerned).
    fn refresh(&self, now: Instant) {
        let mut presence = self.lock();
        for (org_id, org) in &presence.local {
            let viewers = org.values().cloned().collect();
            self.tell_nodes(&Wire::Presence {
                node: self.node.clone(),
                org_id: org_id.clone(),
                viewers,
            });
        }
        let mut expired = Vec::new();
        presence.remote.retain(|org_id, nodes| {
            let before = nodes.len();
            nodes.retain(|_, (_, heard)| now.duration_since(*heard) < EXPIRY);
            if nodes.len() != before {
                expired.push(org_id.clone());
            }
            !nodes.is_empty()
        });
        for org_id in expired {
            self.deliver(&org_id, presence_message(&presence.merged(&org_id, now)));
        }
    }

    /// Shares presence and announcements with the other nodes through the log's relay, until
    /// the task running it ends. Returns at once when the log does not relay.
    pub async fn relay(&self, log: Arc<dyn unmogrowp_bus::EventLog>) {
        if !log.relays_live() {
            return;
        }
        let (sender, mut outgoing) = mpsc::channel::<Vec<u8>>(RELAY_QUEUE);
        if self.relay.set(sender).is_err() {
            return;
        }
        let mut refresh = tokio::time::interval(REFRESH);
        loop {
            let mut incoming = match log.subscribe_collab().await {
                Ok(Some(incoming)) => incoming,
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(%error, "cannot subscribe to the collaboration relay");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            loop {
                tokio::select! {
                    payload = incoming.recv() => match payload {
                        Some(payload) => self.receive(&payload, Instant::now()),
                        None => break,
                    },
                    Some(payload) = outgoing.recv() => {
                        if let Err(error) = log.publish_collab(payload).await {
                            tracing::warn!(%error, "a collaboration message was not relayed");
                        }
                    },
                    _ = refresh.tick() => self.refresh(Instant::now()),
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The presence message listing `viewers`.
pub fn presence_message(viewers: &[Viewer]) -> serde_json::Value {
    serde_json::json!({ "type": "presence", "viewers": viewers })
}

/// `view` trimmed and cut to [`MAX_VIEW_CHARS`]; `None` when nothing is left.
pub fn clean_view(view: &str) -> Option<String> {
    let view = view.trim();
    (!view.is_empty())
        .then(|| view.chars().filter(|c| !c.is_control()).take(MAX_VIEW_CHARS).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn viewer(connection_id: u64, view: &str) -> Viewer {
        Viewer {
            connection_id,
            user_id: format!("user-{connection_id}"),
            name: format!("User {connection_id}"),
            view: view.to_owned(),
            since: "2026-11-30T12:00:00Z".to_owned(),
        }
    }

    fn next_viewers(receiver: &mut broadcast::Receiver<Arc<CollabMessage>>) -> (String, Vec<u64>) {
        let message = receiver.try_recv().expect("a presence message");
        assert_eq!(message.body["type"], "presence");
        let ids = message.body["viewers"]
            .as_array()
            .expect("viewers")
            .iter()
            .map(|viewer| viewer["connection_id"].as_u64().expect("connection id"))
            .collect();
        (message.org_id.clone(), ids)
    }

    #[test]
    fn each_change_sends_the_organizations_whole_set_and_repeats_send_nothing() {
        let collab = Collab::new();
        let mut receiver = collab.subscribe();
        collab.set("org-a", 1, Some(viewer(1, "overview:app")));
        assert_eq!(next_viewers(&mut receiver), ("org-a".to_owned(), vec![1]));
        collab.set("org-b", 2, Some(viewer(2, "overview:app")));
        assert_eq!(next_viewers(&mut receiver), ("org-b".to_owned(), vec![2]));
        collab.set("org-a", 3, Some(viewer(3, "cohorts:app")));
        assert_eq!(next_viewers(&mut receiver), ("org-a".to_owned(), vec![1, 3]));
        // The same view again is no change; a new view is.
        collab.set("org-a", 1, Some(viewer(1, "overview:app")));
        assert!(receiver.try_recv().is_err());
        collab.set("org-a", 1, Some(viewer(1, "fraud:app")));
        assert_eq!(next_viewers(&mut receiver), ("org-a".to_owned(), vec![1, 3]));
        assert_eq!(collab.viewers("org-a")[0].view, "fraud:app");
        // Leaving tells the rest; leaving twice tells nobody.
        collab.set("org-a", 1, None);
        assert_eq!(next_viewers(&mut receiver), ("org-a".to_owned(), vec![3]));
        collab.set("org-a", 1, None);
        assert!(receiver.try_recv().is_err());
        collab.set("org-a", 3, None);
        assert_eq!(next_viewers(&mut receiver), ("org-a".to_owned(), vec![]));
        assert!(collab.viewers("org-a").is_empty());
        assert_eq!(collab.viewers("org-b").len(), 1);
    }

    #[test]
    fn nodes_merge_each_others_viewers_and_forget_a_silent_one() {
        let (a, b) = (Collab::new(), Collab::new());
        let (relay, mut from_a) = mpsc::channel(16);
        a.relay.set(relay).unwrap();
        let (mut on_a, mut on_b) = (a.subscribe(), b.subscribe());
        let now = Instant::now();

        a.set("org", 1, Some(viewer(1, "overview:app")));
        assert_eq!(next_viewers(&mut on_a), ("org".to_owned(), vec![1]));
        let payload = from_a.try_recv().expect("a tells the other nodes");
        b.receive(&payload, now);
        assert_eq!(next_viewers(&mut on_b), ("org".to_owned(), vec![1]));
        b.set("org", 2, Some(viewer(2, "overview:app")));
        assert_eq!(next_viewers(&mut on_b), ("org".to_owned(), vec![1, 2]));
        assert_eq!(b.viewers("org").len(), 2);
        // The same payload again changes nothing; a node's own payload is skipped.
        b.receive(&payload, now);
        a.receive(&payload, now);
        assert!(on_b.try_recv().is_err() && on_a.try_recv().is_err());

        // An announcement crosses to the other node's connections.
        a.publish("org", serde_json::json!({ "type": "annotation", "action": "created" }));
        assert_eq!(on_a.try_recv().unwrap().body["action"], "created");
        b.receive(&from_a.try_recv().unwrap(), now);
        let crossed = on_b.try_recv().unwrap();
        assert_eq!(
            (crossed.org_id.as_str(), &crossed.body["type"]),
            ("org", &serde_json::json!("annotation"))
        );

        // A refresh repeats a's viewers; once a stops refreshing, b forgets them.
        a.refresh(now);
        b.receive(&from_a.try_recv().expect("a refresh"), now + REFRESH);
        assert!(on_b.try_recv().is_err(), "a refresh of the same set is no change");
        b.refresh(now + REFRESH + EXPIRY / 2);
        assert!(on_b.try_recv().is_err(), "still fresh");
        b.refresh(now + REFRESH + EXPIRY);
        assert_eq!(next_viewers(&mut on_b), ("org".to_owned(), vec![2]));

        // Leaving is told to the other nodes as an empty set.
        a.set("org", 1, None);
        let _ = next_viewers(&mut on_a);
        b.receive(&from_a.try_recv().unwrap(), now + REFRESH + EXPIRY);
        assert!(on_b.try_recv().is_err(), "b had already forgotten a's viewer");
        assert_eq!(b.viewers("org").len(), 1);
    }

    #[test]
    fn connections_are_counted_per_user_up_to_the_limit() {
        let collab = Collab::new();
        assert!(collab.admit_connection("u1", 2));
        assert!(collab.admit_connection("u1", 2));
        assert!(!collab.admit_connection("u1", 2), "a third is refused");
        assert!(collab.admit_connection("u2", 2), "another user has their own count");
        collab.release_connection("u1");
        assert!(collab.admit_connection("u1", 2), "a released slot is free again");
        collab.release_connection("nobody");
    }

    #[test]
    fn viewers_are_ordered_by_arrival_time_whatever_the_fraction_digits() {
        let collab = Collab::new();
        let mut early = viewer(9, "v");
        early.since = "2026-11-30T12:00:00.5Z".to_owned();
        let mut late = viewer(1, "v");
        late.since = "2026-11-30T12:00:00.25Z".to_owned();
        collab.set("org", 1, Some(late));
        collab.set("org", 9, Some(early));
        let order: Vec<u64> = collab.viewers("org").iter().map(|v| v.connection_id).collect();
        assert_eq!(order, vec![1, 9], ".25 s is before .5 s");
    }

    #[test]
    fn views_are_trimmed_cut_and_never_empty() {
        assert_eq!(clean_view("  overview:x \n"), Some("overview:x".to_owned()));
        assert_eq!(clean_view("   "), None);
        assert_eq!(clean_view("a\u{0}b"), Some("ab".to_owned()));
        assert_eq!(clean_view(&"é".repeat(500)).map(|view| view.chars().count()), Some(200));
    }
}
