//! The application spawned in-process on port 0, each test with its own data dir (and, for
//! PostgreSQL, its own database), plus one helper per route.

use crate::postgres::TempDatabase;
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::Value;
use unmogrowp_server::Application;
use unmogrowp_server::config::Config;
use unmogrowp_server::state::AppState;

/// The metadata store a [`TestApp`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestBackend {
    /// The embedded SQLite store in the test's own data dir; needs nothing running.
    Sqlite,
    /// A fresh PostgreSQL database made for the test ([`TempDatabase`]); needs
    /// `TEST_POSTGRES_URL`.
    Postgres,
}

/// The whole application running in-process for one test: listening on a free port of
/// 127.0.0.1, with a temporary data dir (and, on PostgreSQL, a temporary database), plus a
/// client and one helper per route.
///
/// Call [`TestApp::stop`] at the end so the server shuts down gracefully and the test
/// database is dropped.
pub struct TestApp {
    config: Config,
    /// The server's base URL, `http://127.0.0.1:PORT` without a trailing slash (append a
    /// path starting with `/`, as [`TestApp::at`] does).
    pub url: String,
    /// The HTTP client the helpers use; it does not follow redirects, so tests see them.
    pub client: reqwest::Client,
    /// The server's data dir (event log, outbox, SQLite store), deleted when dropped.
    pub data_dir: tempfile::TempDir,
    /// The test's PostgreSQL database when running on [`TestBackend::Postgres`]; `None` on
    /// SQLite.
    pub database: Option<TempDatabase>,
    /// The running server's shared state, for reaching its stores and event log directly.
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A configuration for tests: port 0, a fresh data dir, quiet logs, loopback allowed as an
/// outbound destination.
pub fn test_config(data_dir: &std::path::Path) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_owned(),
        // Every test client is 127.0.0.1: per-address limits out of the way (tests of the
        // limits set their own).
        limits: unmogrowp_server::config::LimitsConfig {
            login_per_minute: 100_000,
            login_burst: 100_000,
            auth_per_minute: 100_000,
            auth_burst: 100_000,
            check_email_per_minute: 100_000,
            check_email_burst: 100_000,
            api_per_minute: 100_000,
            api_burst: 100_000,
            touch_per_minute: 100_000,
            touch_burst: 100_000,
        },
        // Tests' postback receivers listen on loopback.
        security: unmogrowp_server::config::SecurityConfig {
            outbound_allow_cidrs: vec!["127.0.0.0/8".to_owned()],
            ..Default::default()
        },
        ..Config::default()
    }
}

impl TestApp {
    /// Starts the application on `backend` with the [`test_config`] defaults; panics if it
    /// cannot start (or, on PostgreSQL, without `TEST_POSTGRES_URL`).
    pub async fn spawn(backend: TestBackend) -> Self {
        // Boxed: starting holds the whole configuration across awaits.
        Box::pin(Self::spawn_with(backend, |_| {})).await
    }

    /// Spawns with a configuration the test may adjust.
    pub async fn spawn_with(backend: TestBackend, customize: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = test_config(data_dir.path());
        let database = match backend {
            TestBackend::Sqlite => None,
            TestBackend::Postgres => Some(TempDatabase::create().await),
        };
        if let Some(database) = &database {
            config.database_url = Some(SecretString::from(database.url.clone()));
        }
        customize(&mut config);
        Box::pin(Self::start(config, data_dir, database)).await
    }

    async fn start(
        config: Config,
        data_dir: tempfile::TempDir,
        database: Option<TempDatabase>,
    ) -> Self {
        let application = Box::pin(Application::build(config.clone())).await.unwrap();
        let url = application.url();
        let state = application.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(application.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let client = {
            unmogrowp_server::postbacks::install_crypto_provider();
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
        };
        Self { config, url, client, data_dir, database, state, stop: Some(stop), task: Some(task) }
    }

    /// Stops the server gracefully and starts a new one on the same data dir and database
    /// (a new port).
    pub async fn restart(self) -> Self {
        self.restart_after(|_| {}).await
    }

    /// [`TestApp::restart`], running `between` on the data dir while no server runs.
    pub async fn restart_after(mut self, between: impl FnOnce(&std::path::Path)) -> Self {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap());
        between(data_dir.path());
        let database = self.database.take();
        let mut config = self.config.clone();
        config.addr = "127.0.0.1:0".parse().unwrap();
        Box::pin(Self::start(config, data_dir, database)).await
    }

    /// The absolute URL of `path` (which starts with `/`) on this server.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Sends an unauthenticated `GET` to `path`; panics if the request cannot be sent.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.at(path)).send().await.unwrap()
    }

    /// Sends an unauthenticated `POST` of `body` as JSON to `path`; panics if the request
    /// cannot be sent.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.at(path)).json(body).send().await.unwrap()
    }

    /// A request builder for `method` on `path`, for headers or bodies the other helpers do
    /// not cover; nothing is sent until the test sends it.
    pub async fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.at(path))
    }

    /// Asks `POST /api/v1/auth/check-email` whether `email` is free to register (200 with
    /// `{"available": bool}`, 400 for an invalid address).
    pub async fn check_email(&self, email: &str) -> Response {
        self.post_json("/api/v1/auth/check-email", &serde_json::json!({ "email": email })).await
    }

    /// Stops the server gracefully and drops the test database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(database) = self.database.take() {
            database.drop_database().await;
        }
    }
}

/// Reads a response as JSON, panicking with the body when it is not.
pub async fn json(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("status {status}, not JSON: {text}"))
}

/// The password the helpers register accounts with.
pub const PASSWORD: &str = "a long enough passphrase 42";

/// A signed-in test user.
#[derive(Clone, Debug)]
pub struct Login {
    /// The bearer token for API calls (`access_token` of the answer).
    pub access_token: String,
    /// The token that renews the session (`refresh_token` of the answer).
    pub refresh_token: String,
    /// The user's id (`user.id`).
    pub user_id: String,
    /// The id of the organization the session is in (`organization.id`).
    pub org_id: String,
    /// The user's email address (`user.email`).
    pub email: String,
    /// The whole JSON answer the fields were read from.
    pub body: Value,
}

impl Login {
    /// Reads a login from the JSON answer of register, login or accept-invitation; a field
    /// missing from the answer is left empty rather than panicking.
    pub fn from_body(body: Value) -> Self {
        let text = |pointer: &str| {
            body.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
        };
        Self {
            access_token: text("/access_token"),
            refresh_token: text("/refresh_token"),
            user_id: text("/user/id"),
            org_id: text("/organization/id"),
            email: text("/user/email"),
            body,
        }
    }
}

/// A response read whole: status, headers and JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body parsed as JSON; `Value::Null` when it is empty or not JSON.
    pub body: Value,
    /// The body as text, whatever its type (handy in assertion messages).
    pub text: String,
}

impl Reply {
    /// The value of header `name` (case-insensitive); `None` when absent or not visible
    /// ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

impl TestApp {
    /// Any request, optionally with a bearer token and a JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        self.call_with(method, path, token, body, &[]).await
    }

    /// [`TestApp::call`] with extra request headers (`(name, value)` pairs); panics if the
    /// request cannot be sent.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, self.at(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    /// Registers a new account and organization; panics unless it answers 201.
    pub async fn register(&self, email: &str, organization: &str) -> Login {
        let body = serde_json::json!({
            "email": email, "password": PASSWORD, "name": "Test User", "organization": organization,
        });
        let reply = self.call(Method::POST, "/api/v1/auth/register", None, Some(&body)).await;
        assert_eq!(reply.status, 201, "register {email}: {}", reply.text);
        Login::from_body(reply.body)
    }

    /// Signs in with `POST /api/v1/auth/login` and returns the reply whatever its status, so
    /// tests can check refusals too ([`Login::from_body`] reads a successful one).
    pub async fn login(&self, email: &str, password: &str) -> Reply {
        let body = serde_json::json!({ "email": email, "password": password });
        self.call(Method::POST, "/api/v1/auth/login", None, Some(&body)).await
    }

    /// Invites `email` with `role` into the inviter's organization and accepts the invitation
    /// from the outbox; returns the new member's login.
    pub async fn add_member(&self, inviter: &Login, email: &str, role: &str) -> Login {
        let body = serde_json::json!({ "email": email, "role": role });
        let reply = self
            .call(Method::POST, "/api/v1/org/invitations", Some(&inviter.access_token), Some(&body))
            .await;
        assert_eq!(reply.status, 201, "invite {email}: {}", reply.text);
        let message = self.wait_for_outbox_email(email, "Join").await;
        let token = token_from_email(&message, "/accept-invitation?token=");
        let body =
            serde_json::json!({ "token": token, "name": "Invited User", "password": PASSWORD });
        let reply =
            self.call(Method::POST, "/api/v1/auth/accept-invitation", None, Some(&body)).await;
        assert_eq!(reply.status, 200, "accept {email}: {}", reply.text);
        Login::from_body(reply.body)
    }

    /// Every message in the outbox, decoded.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.data_dir.path().join("outbox");
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|text| decode_email(&text))
            .collect()
    }

    /// Waits (up to 10 s) for an outbox message to `to` whose subject contains `subject`.
    pub async fn wait_for_outbox_email(&self, to: &str, subject: &str) -> String {
        wait_for(|| {
            self.outbox().into_iter().rev().find(|message| is_message_for(message, to, subject))
        })
        .await
        .unwrap_or_else(|| panic!("no email to {to} about `{subject}` in the outbox"))
    }
}

fn is_message_for(message: &str, to: &str, subject: &str) -> bool {
    message.lines().any(|line| line.eq_ignore_ascii_case(&format!("To: {to}")))
        && message.lines().any(|line| line.starts_with("Subject:") && line.contains(subject))
}

async fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..200 {
        if let Some(found) = probe() {
            return Some(found);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

/// Waits for a message to `to` in the test SMTP server's Maildir (`TEST_SMTP_MAILDIR`).
pub async fn wait_for_smtp_email(to: &str, subject: &str) -> String {
    let maildir = std::env::var("TEST_SMTP_MAILDIR").unwrap_or_else(|_| {
        panic!("TEST_SMTP_MAILDIR is not set: run with `make test`, which starts an SMTP server")
    });
    let new = std::path::Path::new(&maildir).join("new");
    wait_for(|| {
        let entries = std::fs::read_dir(&new).ok()?;
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .map(|text| decode_email(&text))
            .find(|message| is_message_for(message, to, subject))
    })
    .await
    .unwrap_or_else(|| panic!("the SMTP server received no email to {to} about `{subject}`"))
}

/// The test SMTP server's URL (`smtp://127.0.0.1:PORT`, from `TEST_SMTP_URL`); panics when
/// it is not set (run with `make test`, which starts the server).
pub fn smtp_url() -> String {
    std::env::var("TEST_SMTP_URL").unwrap_or_else(|_| {
        panic!("TEST_SMTP_URL is not set: run with `make test`, which starts an SMTP server")
    })
}

/// Undoes quoted-printable soft line breaks and escapes (the text parts of our emails).
pub fn decode_email(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'=' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
            if let Ok(value) = u8::from_str_radix(hex, 16) {
                out.push(value);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// The token of the first link in `message` that contains `marker` (e.g. `/reset-password?token=`).
pub fn token_from_email(message: &str, marker: &str) -> String {
    let start = message.find(marker).unwrap_or_else(|| panic!("no `{marker}` link in:\n{message}"))
        + marker.len();
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}
