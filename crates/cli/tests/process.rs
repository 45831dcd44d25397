//! The `unmogrowp` binary as users run it: as a child process, stopped with signals.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_unmogrowp");

struct Server {
    child: Child,
    url: String,
    _lines: mpsc::Receiver<String>,
}

impl Drop for Server {
    /// A failed test must not leave a server running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn command() -> Command {
    let mut command = Command::new(BINARY);
    // The tests' own environment must not configure the server under test.
    for (key, _) in std::env::vars() {
        if key.starts_with("UNMOGROWP_") {
            command.env_remove(key);
        }
    }
    command.env("UNMOGROWP_LOG_FORMAT", "json");
    command
}

/// Starts `unmogrowp serve` on a free port and waits for its `url:` line. The child is
/// reaped by `Server`'s `Drop`.
#[allow(clippy::zombie_processes)]
fn start(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let mut command = command();
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(remaining).expect("the server printed its url line");
        if let Some(url) = line.strip_prefix("url: ") {
            let url = url.trim_end_matches('/').to_owned();
            return Server { child, url, _lines: lines };
        }
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args(["-s", name, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

fn wait_for_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

#[test]
fn serve_answers_and_sigterm_exits_zero() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = start(data_dir.path(), &[]);
    let body = http::blocking_get(&format!("{}/healthz", server.url));
    assert!(body.contains("\"ok\""), "{body}");
    signal(&server.child, "TERM");
    let status = wait_for_exit(&mut server.child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

/// SIGTERM while a request is still arriving: that request completes, then the process exits 0.
#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = start(data_dir.path(), &[]);
    let body = br#"{"email":"slow@example.com"}"#;
    let mut stream = TcpStream::connect(host_port(&server.url)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "POST /api/v1/auth/check-email HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let signalled = Instant::now();
    signal(&server.child, "TERM");
    std::thread::sleep(Duration::from_millis(700));
    assert!(server.child.try_wait().unwrap().is_none(), "exited with a request in flight");
    stream.write_all(&body[10..]).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream.read(&mut buffer).unwrap_or(0);
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"available\":true"), "{answer}");
    drop(stream);
    let status = wait_for_exit(&mut server.child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[test]
fn migrate_applies_then_reports_up_to_date() {
    let data_dir = tempfile::tempdir().unwrap();
    let run = || {
        let output =
            command().arg("migrate").arg("--data-dir").arg(data_dir.path()).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let first = run();
    assert!(first.contains("applied migration 1 (accounts)"), "{first}");
    let second = run();
    assert!(second.contains("schema is up to date"), "{second}");
    assert!(data_dir.path().join("unmogrowp.db").exists());
}

#[test]
fn an_unknown_configuration_key_is_refused_by_name() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = data_dir.path().join("unmogrowp.toml");
    std::fs::write(&config, "listen_addr = \"127.0.0.1:1\"\n").unwrap();
    let output = command()
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(data_dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("listen_addr"), "{stderr}");
}

#[test]
fn serve_on_postgres_from_the_environment() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let database = runtime.block_on(unmogrowp_testkit::TempDatabase::create());
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = start(data_dir.path(), &[("UNMOGROWP_DATABASE_URL", &database.url)]);
    let ready = http::blocking_get(&format!("{}/readyz", server.url));
    assert!(ready.contains("\"ready\""), "{ready}");
    assert!(!data_dir.path().join("unmogrowp.db").exists(), "SQLite must not be used");
    signal(&server.child, "INT");
    assert!(wait_for_exit(&mut server.child, Duration::from_secs(10)).success());
    runtime.block_on(database.drop_database());
}

mod http {
    /// A tiny blocking GET over a raw socket (the tests need nothing more).
    pub fn blocking_get(url: &str) -> String {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (host, path) =
            rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }
}

#[test]
fn demo_prints_the_url_and_a_login_that_works() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = command();
    command
        .args(["demo", "--addr", "127.0.0.1:0", "--days", "2", "--scale", "0.2", "--data-dir"])
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut url = None;
    let mut login = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(found) = line.strip_prefix("url: ") {
            url = Some(found.trim_end_matches('/').to_owned());
        }
        if let Some(found) = line.strip_prefix("login: ") {
            login = Some(found.to_owned());
        }
        if url.is_some() && login.is_some() {
            break;
        }
    }
    let url = url.expect("a url line");
    let login = login.expect("a login line");
    let (email, password) = login.split_once(' ').unwrap();
    let body = format!(r#"{{"email":"{email}","password":"{password}"}}"#);
    let host = url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&host).unwrap();
    write!(stream, "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("Demo Studio"), "{answer}");
    signal(&child, "TERM");
    assert!(wait_for_exit(&mut child, Duration::from_secs(10)).success());
}

#[test]
fn a_shared_role_with_empty_urls_is_refused() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = command()
        .args(["serve", "--role", "api", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .env("UNMOGROWP_DATABASE_URL", "")
        .env("UNMOGROWP_EVENTS_URL", "")
        .env("UNMOGROWP_NATS_URL", "")
        .output()
        .unwrap();
    assert!(!output.status.success(), "an api node started on the embedded tier");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("database_url, events_url, nats_url"), "{stderr}");
    assert!(!data_dir.path().join("unmogrowp.db").exists(), "SQLite must not be used");
}
