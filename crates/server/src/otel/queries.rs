//! A span for each OLTP statement (named `<KIND> <table>`, e.g. `SELECT apps`), made from the
//! statement log sqlx writes as each statement finishes (target `sqlx::query`: the statement's
//! summary, rows affected and returned, elapsed time). The span is placed where the statement ran:
//! it starts `elapsed` before the log line and is a child of the span that issued the statement
//! (sqlx's SQLite worker thread enters the caller's span for each command). Statements outside any
//! traced span (start-up, migrations, background sweeps without a span) make no span of their own.
//!
//! Attributes follow OpenTelemetry's database conventions where they apply:
//! `db.system.name`, `db.operation.name` (the statement kind: `SELECT`, `INSERT`, …),
//! `db.collection.name` (the first table named), `db.query.summary`, and `db.rows_returned` /
//! `db.rows_affected`.

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _};
use std::time::{Duration, SystemTime};
use tracing::field::{Field, Visit};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The `tracing` layer that turns sqlx's statement log into spans (see the module docs).
pub struct StatementSpans {
    tracer: opentelemetry_sdk::trace::SdkTracer,
    system: &'static str,
}

impl StatementSpans {
    /// Spans for `tracer`, naming `system` (`sqlite` or `postgresql`) as the database.
    pub fn new(tracer: opentelemetry_sdk::trace::SdkTracer, system: &'static str) -> Self {
        Self { tracer, system }
    }
}

#[derive(Default)]
struct Statement {
    summary: Option<String>,
    text: Option<String>,
    rows_affected: Option<u64>,
    rows_returned: Option<u64>,
    elapsed_secs: Option<f64>,
}

impl Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = Some(value.to_owned()),
            "db.statement" if !value.trim().is_empty() => self.text = Some(value.trim().to_owned()),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "rows_affected" => self.rows_affected = Some(value),
            "rows_returned" => self.rows_returned = Some(value),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" && self.summary.is_none() {
            self.summary = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

/// The statement kind and the first table a statement names, e.g. `("SELECT", Some("apps"))`
/// for `SELECT id, name FROM apps WHERE …`.
pub fn kind_and_table(summary: &str) -> (String, Option<String>) {
    let words: Vec<&str> = summary.split_whitespace().collect();
    let kind = words.first().map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    let after = |keyword: &str| {
        words
            .windows(2)
            .find(|pair| pair[0].eq_ignore_ascii_case(keyword))
            .map(|pair| pair[1].trim_matches(|c: char| c == '"' || c == '(' || c == ',').to_owned())
            .filter(|table| !table.is_empty() && !table.starts_with('…'))
    };
    let table = match kind.as_str() {
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1).map(|w| w.trim_matches('"').to_owned()),
        _ => after("FROM"),
    };
    (kind, table)
}

impl<S> tracing_subscriber::Layer<S> for StatementSpans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let parent = tracing::Span::current().context();
        if !parent.span().span_context().is_valid() {
            return;
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        let Some(summary) = statement.summary else { return };
        let elapsed = Duration::from_secs_f64(statement.elapsed_secs.unwrap_or(0.0).max(0.0));
        let end = SystemTime::now();
        // The summary is the statement's first words; the kind and table come from the whole
        // statement when sqlx gave it (placeholders only: no values are in it).
        let (kind, table) = kind_and_table(statement.text.as_deref().unwrap_or(&summary));
        let mut attributes = vec![
            KeyValue::new("db.system.name", self.system),
            KeyValue::new("db.operation.name", kind.clone()),
            KeyValue::new("db.query.summary", summary),
        ];
        if let Some(table) = &table {
            attributes.push(KeyValue::new("db.collection.name", table.clone()));
        }
        if let Some(rows) = statement.rows_returned {
            attributes.push(KeyValue::new("db.rows_returned", rows as i64));
        }
        if let Some(rows) = statement.rows_affected {
            attributes.push(KeyValue::new("db.rows_affected", rows as i64));
        }
        let name = match &table {
            Some(table) => format!("{kind} {table}"),
            None => kind,
        };
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(end.checked_sub(elapsed).unwrap_or(end))
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(end);
    }
}

#[cfg(test)]
mod tests {
    use super::kind_and_table;

    #[test]
    fn statement_kinds_and_tables() {
        let cases = [
            ("SELECT id, org_id FROM apps WHERE id = $1", "SELECT", Some("apps")),
            (
                "INSERT INTO postback_deliveries (id, org_id, …",
                "INSERT",
                Some("postback_deliveries"),
            ),
            ("UPDATE sessions SET last_seen = $1 …", "UPDATE", Some("sessions")),
            ("DELETE FROM audit_log WHERE at < $1", "DELETE", Some("audit_log")),
            ("BEGIN", "BEGIN", None),
            ("select count(*) from \"users\"", "SELECT", Some("users")),
            ("SELECT id, org_id, app_id, …", "SELECT", None),
        ];
        for (summary, kind, table) in cases {
            let (got_kind, got_table) = kind_and_table(summary);
            assert_eq!(got_kind, kind, "{summary}");
            assert_eq!(got_table.as_deref(), table, "{summary}");
        }
    }
}
