//! The request id: taken from a sane incoming `x-request-id` or made fresh, carried in a
//! task-local so that error responses and log lines anywhere in the request can name it.

use std::sync::Arc;

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
    static TRACE_ID: Option<Arc<str>>;
}

/// The header carrying the request id: read from requests, set on every response.
pub const HEADER: &str = "x-request-id";

/// The id of the request being served, or `-` outside of one.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|id| id.to_string()).unwrap_or_else(|_| "-".to_owned())
}

/// The trace id of the request being served (32 lowercase hex digits), when it is traced
/// (see [`crate::otel`]); `None` outside of a request or when it is not.
pub fn current_trace_id() -> Option<Arc<str>> {
    TRACE_ID.try_with(Clone::clone).ok().flatten()
}

pub(crate) async fn scope<F: Future>(
    id: Arc<str>,
    trace_id: Option<Arc<str>>,
    future: F,
) -> F::Output {
    REQUEST_ID.scope(id, TRACE_ID.scope(trace_id, future)).await
}

pub(crate) fn sync_scope<R>(id: Arc<str>, trace_id: Option<Arc<str>>, f: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, || TRACE_ID.sync_scope(trace_id, f))
}

/// Accepts a client's id when it is short printable ASCII; otherwise makes one.
pub(crate) fn choose(incoming: Option<&str>) -> Arc<str> {
    match incoming {
        Some(id)
            if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Arc::from(id)
        }
        _ => Arc::from(uuid::Uuid::new_v4().simple().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_ids_and_replaces_others() {
        assert_eq!(&*choose(Some("abc-123")), "abc-123");
        assert_eq!(choose(Some("has space")).len(), 32);
        assert_eq!(choose(Some(&"x".repeat(200))).len(), 32);
        assert_eq!(choose(None).len(), 32);
    }
}
