//! Talking to ClickHouse over HTTP: the connection URL, string and day literals (the only
//! way values enter SQL here: ClickHouse 18.16 has no query parameters), statements, queries
//! answered as JSON rows, and `JSONEachRow` inserts.

use super::{ClickHouseEventStore, Credentials, INSERT_TIMEOUT, QUERY_TIMEOUT, Row};
use crate::{Result, StoreError};
use std::time::Duration;
use unmogrowp_domain::Day;

/// A ClickHouse string literal.
pub(super) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A day as a quoted SQL literal (its text is digits and dashes only).
pub(super) fn day_literal(day: Day) -> String {
    quote(&day.text())
}

/// Where to connect, from `clickhouse://[USER[:PASSWORD]@]HOST:HTTP_PORT/DATABASE` or
/// `http(s)://…/DATABASE` (or `?database=NAME`); the database defaults to `unmogrowp`.
pub(super) fn parse_url(raw: &str) -> Result<(url::Url, String, Option<Credentials>)> {
    let invalid = |why: &str| StoreError::Unavailable(format!("events_url: {why}"));
    let parsed = url::Url::parse(raw).map_err(|error| invalid(&error.to_string()))?;
    let scheme = match parsed.scheme() {
        "clickhouse" | "http" => "http",
        "clickhouses" | "https" => "https",
        other => return Err(invalid(&format!("unsupported scheme {other:?}"))),
    };
    let host = parsed.host_str().ok_or_else(|| invalid("no host"))?;
    let port = parsed.port().unwrap_or(if scheme == "https" { 8443 } else { 8123 });
    let endpoint = url::Url::parse(&format!("{scheme}://{host}:{port}/"))
        .map_err(|error| invalid(&error.to_string()))?;
    let from_path = parsed.path().trim_matches('/').to_owned();
    let from_query = parsed
        .query_pairs()
        .find(|(key, _)| key == "database")
        .map(|(_, value)| value.into_owned());
    let database = from_query
        .or((!from_path.is_empty()).then_some(from_path))
        .unwrap_or_else(|| "unmogrowp".to_owned());
    if database.is_empty()
        || !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || database.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(invalid("the database name must be letters, digits and underscores"));
    }
    let user = (!parsed.username().is_empty())
        .then(|| (percent_decode(parsed.username()), parsed.password().map(percent_decode)));
    Ok((endpoint, database, user))
}

pub(super) fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(raw.as_bytes())
        .next()
        .map(|(key, _)| key.into_owned())
        .unwrap_or_default()
}

impl ClickHouseEventStore {
    /// Sends one statement (`body`: rows for an `INSERT … FORMAT`, with the statement then
    /// going in the URL). Returns the response body.
    pub(super) async fn post(
        &self,
        sql: &str,
        body: Option<String>,
        in_database: bool,
    ) -> Result<String> {
        let response = self.send(sql, body, in_database, Some(QUERY_TIMEOUT)).await?;
        response.text().await.map_err(|error| StoreError::Unavailable(error.to_string()))
    }

    pub(super) async fn send(
        &self,
        sql: &str,
        body: Option<String>,
        in_database: bool,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response> {
        let mut url = self.endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            if in_database {
                query.append_pair("database", &self.database);
            }
            if body.is_some() {
                query.append_pair("query", sql);
            } else {
                // De-duplication reads name a batch's ids: allow queries beyond the
                // default 256 KiB.
                query.append_pair("max_query_size", "33554432");
            }
        }
        let mut request = self.client.post(url).body(body.unwrap_or_else(|| sql.to_owned()));
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some((user, password)) = &self.user {
            request = request.basic_auth(user, password.as_ref());
        }
        let response = request.send().await.map_err(|error| {
            StoreError::Unavailable(format!("ClickHouse at {}: {error}", self.endpoint))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let detail = response.text().await.unwrap_or_default();
        let detail: String = detail.trim().chars().take(600).collect();
        Err(StoreError::Query(format!("ClickHouse answered {status}: {detail}")))
    }

    pub(super) async fn execute(&self, sql: &str) -> Result<()> {
        self.post(sql, None, true).await.map(|_| ())
    }

    pub(super) async fn query(&self, sql: &str) -> Result<Vec<Row>> {
        let body = self.post(&format!("{sql} FORMAT JSONEachRow"), None, true).await?;
        body.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str::<Row>(line).map_err(|error| {
                    StoreError::Query(format!("reading ClickHouse's answer: {error}"))
                })
            })
            .collect()
    }

    pub(super) async fn insert(&self, table: &str, body: String) -> Result<()> {
        if body.is_empty() {
            return Ok(());
        }
        let sql = format!("INSERT INTO {table} FORMAT JSONEachRow");
        self.send(&sql, Some(body), true, Some(INSERT_TIMEOUT)).await.map(|_| ())
    }
}
