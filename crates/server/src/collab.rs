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
//! Presence is kept by the node that holds the connection, so in a cluster two members see
//! each other when their connections reach the same API node (annotations are stored, so every
//! node's readers get them on the next read).

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// The longest `view` kept (characters); longer ones are cut.
pub const MAX_VIEW_CHARS: usize = 200;
/// The most viewers one presence message lists (the earliest arrivals).
pub const MAX_VIEWERS: usize = 200;
/// Messages waiting for the slowest live connection before it skips some.
const CHANNEL: usize = 1024;

/// A message for every live connection of one organization.
#[derive(Debug)]
pub struct CollabMessage {
    /// The organization whose connections get it.
    pub org_id: String,
    /// The JSON sent as it is.
    pub body: serde_json::Value,
}

/// One live connection's presence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Viewer {
    /// The live connection (a user with two tabs open has two).
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

/// Presence per organization and the broadcast of collaboration messages.
pub struct Collab {
    sender: broadcast::Sender<Arc<CollabMessage>>,
    viewers: std::sync::Mutex<HashMap<String, BTreeMap<u64, Viewer>>>,
    next_connection: AtomicU64,
}

impl Default for Collab {
    fn default() -> Self {
        Self::new()
    }
}

impl Collab {
    /// No viewers yet.
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(CHANNEL).0,
            viewers: std::sync::Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
        }
    }

    /// A new connection's id (unique in this process).
    pub fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Every collaboration message from now on (each connection keeps its organization's).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CollabMessage>> {
        self.sender.subscribe()
    }

    /// Sends `body` to every live connection of `org_id`.
    pub fn publish(&self, org_id: &str, body: serde_json::Value) {
        // No receiver means no live connection: nothing to tell.
        let _ = self.sender.send(Arc::new(CollabMessage { org_id: org_id.to_owned(), body }));
    }

    /// Sets (`Some`) or clears (`None`) what connection `viewer.connection_id` looks at, and
    /// tells the organization when that changed the set. A connection that says the same view
    /// again keeps its `since`.
    pub fn set(&self, org_id: &str, connection_id: u64, viewer: Option<Viewer>) {
        let snapshot = {
            let mut all = self.viewers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let org = all.entry(org_id.to_owned()).or_default();
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
            if !changed {
                return;
            }
            let snapshot: Vec<Viewer> = org.values().take(MAX_VIEWERS).cloned().collect();
            if org.is_empty() {
                all.remove(org_id);
            }
            snapshot
        };
        self.publish(org_id, presence_message(&snapshot));
    }

    /// The organization's viewers now, earliest connection first.
    pub fn viewers(&self, org_id: &str) -> Vec<Viewer> {
        let all = self.viewers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        all.get(org_id)
            .map(|org| org.values().take(MAX_VIEWERS).cloned().collect())
            .unwrap_or_default()
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
    fn views_are_trimmed_cut_and_never_empty() {
        assert_eq!(clean_view("  overview:x \n"), Some("overview:x".to_owned()));
        assert_eq!(clean_view("   "), None);
        assert_eq!(clean_view("a\u{0}b"), Some("ab".to_owned()));
        assert_eq!(clean_view(&"é".repeat(500)).map(|view| view.chars().count()), Some(200));
    }
}
