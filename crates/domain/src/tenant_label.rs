//! Labels for per-organization metrics with bounded cardinality: the busiest organizations
//! (at most `top_n`) are labelled with their id, every other one with [`OTHER`], so a million
//! tenants add `top_n + 1` series per metric, not a million.
//!
//! Activity is the weight callers report (events, requests). While fewer than `top_n`
//! organizations hold a label, the next one active gets one. Every [`RERANK`] the labels go to
//! the `top_n` most active organizations since the previous ranking (activity is halved at
//! each ranking, so old traffic fades). An organization that loses its label keeps its earlier
//! series (no longer growing) until the process restarts; its traffic counts under `other`.
//! At most `max(64, 8 × top_n)` organizations are tracked; a new one beyond that replaces the
//! least active unlabelled one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The label of every organization outside the top N.
pub const OTHER: &str = "other";
/// How often the labels are given to the currently busiest organizations.
pub const RERANK: Duration = Duration::from_secs(60);
/// The default `top_n`.
pub const DEFAULT_TOP_N: usize = 20;

/// The labeller (one per process, see [`label`]; tests make their own).
pub struct TenantLabels {
    state: Mutex<State>,
}

struct State {
    top_n: usize,
    labelled: HashMap<String, Arc<str>>,
    activity: HashMap<String, u64>,
    ranked_at: Instant,
    other: Arc<str>,
}

impl TenantLabels {
    /// Labels for at most `top_n` organizations.
    pub fn new(top_n: usize) -> Self {
        Self {
            state: Mutex::new(State {
                top_n,
                labelled: HashMap::new(),
                activity: HashMap::new(),
                ranked_at: Instant::now(),
                other: Arc::from(OTHER),
            }),
        }
    }

    /// Changes `top_n`; labels are given afresh.
    pub fn set_top_n(&self, top_n: usize) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.top_n = top_n;
        state.labelled.clear();
    }

    /// The label of `org_id` for a metric, counting `weight` of activity for it.
    pub fn label(&self, org_id: &str, weight: u64) -> Arc<str> {
        self.label_at(org_id, weight, Instant::now())
    }

    fn label_at(&self, org_id: &str, weight: u64, now: Instant) -> Arc<str> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.record(org_id, weight);
        if now.duration_since(state.ranked_at) >= RERANK {
            state.rerank(now);
        }
        if let Some(label) = state.labelled.get(org_id) {
            return label.clone();
        }
        if state.labelled.len() < state.top_n {
            let label: Arc<str> = Arc::from(org_id);
            state.labelled.insert(org_id.to_owned(), label.clone());
            return label;
        }
        state.other.clone()
    }
}

impl State {
    fn capacity(&self) -> usize {
        (self.top_n * 8).max(64)
    }

    fn record(&mut self, org_id: &str, weight: u64) {
        if let Some(activity) = self.activity.get_mut(org_id) {
            *activity = activity.saturating_add(weight);
            return;
        }
        if self.activity.len() >= self.capacity() {
            let quietest = self
                .activity
                .iter()
                .filter(|(org, _)| !self.labelled.contains_key(*org))
                .min_by_key(|(_, activity)| **activity)
                .map(|(org, _)| org.clone());
            match quietest {
                Some(org) => {
                    self.activity.remove(&org);
                }
                None => return,
            }
        }
        self.activity.insert(org_id.to_owned(), weight);
    }

    fn rerank(&mut self, now: Instant) {
        let mut ranked: Vec<(&String, &u64)> = self.activity.iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let top: Vec<String> = ranked
            .iter()
            .take(self.top_n)
            .filter(|(_, a)| **a > 0)
            .map(|(o, _)| (*o).clone())
            .collect();
        let mut labelled = HashMap::with_capacity(top.len());
        for org in top {
            let label = self.labelled.get(&org).cloned().unwrap_or_else(|| Arc::from(org.as_str()));
            labelled.insert(org, label);
        }
        self.labelled = labelled;
        for activity in self.activity.values_mut() {
            *activity /= 2;
        }
        self.activity.retain(|_, activity| *activity > 0);
        self.ranked_at = now;
    }
}

fn global() -> &'static TenantLabels {
    static GLOBAL: OnceLock<TenantLabels> = OnceLock::new();
    GLOBAL.get_or_init(|| TenantLabels::new(DEFAULT_TOP_N))
}

/// Sets the process's `top_n` (`observability.tenant_metrics_top_n`).
pub fn configure(top_n: usize) {
    global().set_top_n(top_n);
}

/// The process-wide label of `org_id`, counting `weight` of activity (see the module).
pub fn label(org_id: &str, weight: u64) -> Arc<str> {
    global().label(org_id, weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_n_get_labels_and_the_rest_are_other() {
        let labels = TenantLabels::new(2);
        assert_eq!(&*labels.label("a", 1), "a");
        assert_eq!(&*labels.label("b", 1), "b");
        assert_eq!(&*labels.label("c", 100), OTHER);
        assert_eq!(&*labels.label("a", 1), "a", "a label is kept");
    }

    #[test]
    fn a_ranking_gives_the_labels_to_the_busiest() {
        let labels = TenantLabels::new(2);
        let start = Instant::now();
        labels.label_at("a", 1, start);
        labels.label_at("b", 1, start);
        labels.label_at("c", 500, start);
        labels.label_at("d", 300, start);
        // The next call after the ranking interval ranks: c and d are the busiest.
        assert_eq!(&*labels.label_at("a", 1, start + RERANK), OTHER);
        assert_eq!(&*labels.label_at("c", 1, start + RERANK), "c");
        assert_eq!(&*labels.label_at("d", 1, start + RERANK), "d");
        assert_eq!(&*labels.label_at("b", 1, start + RERANK), OTHER);
    }

    #[test]
    fn tracking_is_bounded_and_keeps_the_labelled() {
        let labels = TenantLabels::new(2);
        labels.label("big-1", 1_000);
        labels.label("big-2", 1_000);
        for i in 0..10_000 {
            assert_eq!(&*labels.label(&format!("small-{i}"), 1), OTHER);
        }
        let state = labels.state.lock().unwrap_or_else(|p| p.into_inner());
        assert!(state.activity.len() <= 64, "{}", state.activity.len());
        assert!(state.activity.contains_key("big-1") && state.activity.contains_key("big-2"));
    }
}
