//! The application spawned in-process on port 0, each test with its own data dir (and, for
//! PostgreSQL, its own database), plus one helper per route.

use crate::postgres::TempDatabase;
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::Value;
use unmogrowp_server::Application;
use unmogrowp_server::config::Config;
use unmogrowp_server::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    pub database: Option<TempDatabase>,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A configuration for tests: port 0, a fresh data dir, quiet logs.
pub fn test_config(data_dir: &std::path::Path) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_owned(),
        ..Config::default()
    }
}

impl TestApp {
    pub async fn spawn(backend: TestBackend) -> Self {
        Self::spawn_with(backend, |_| {}).await
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
        let application = Application::build(config).await.unwrap();
        let url = application.url();
        let state = application.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(application.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { url, client, data_dir, database, state, stop: Some(stop), task: Some(task) }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.at(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.at(path)).json(body).send().await.unwrap()
    }

    pub async fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.at(path))
    }

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
