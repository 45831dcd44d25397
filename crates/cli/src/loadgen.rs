//! `unmogrowp loadgen`: sends realistic events to a running server and reports throughput and
//! latency, bounded in count and time. A baseline (a trivial endpoint of the same server, at
//! the same concurrency) is measured first, in the same run, so figures can be read as
//! ratios on a shared machine.

use rand::Rng;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Options {
    pub url: String,
    pub app_token: String,
    pub events: u64,
    pub batch: usize,
    pub concurrency: usize,
    pub duration: Duration,
    pub baseline_path: String,
    pub baseline_duration: Duration,
}

#[derive(Default)]
struct Tally {
    requests: u64,
    events: u64,
    errors: u64,
    overloaded: u64,
    latencies_us: Vec<u32>,
}

pub struct Report {
    pub lines: Vec<String>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index.min(sorted.len() - 1)]) / 1000.0
}

fn summarize(label: &str, tallies: Vec<Tally>, elapsed: Duration, with_events: bool) -> String {
    let mut total = Tally::default();
    for tally in tallies {
        total.requests += tally.requests;
        total.events += tally.events;
        total.errors += tally.errors;
        total.overloaded += tally.overloaded;
        total.latencies_us.extend(tally.latencies_us);
    }
    total.latencies_us.sort_unstable();
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let mut line = format!(
        "{label}: requests={} req/s={:.0} p50_ms={:.2} p99_ms={:.2} errors={} overloaded={} seconds={:.1}",
        total.requests,
        total.requests as f64 / seconds,
        percentile(&total.latencies_us, 0.50),
        percentile(&total.latencies_us, 0.99),
        total.errors,
        total.overloaded,
        seconds
    );
    if with_events {
        let _ =
            write!(line, " events={} events/s={:.0}", total.events, total.events as f64 / seconds);
    }
    line
}

/// One request body of `batch` events with fresh ids: mostly sessions, some installs, some
/// purchases with revenue in a few currencies, from a pool of devices.
fn body(batch: usize, run: &str, sequence: u64, rng: &mut impl Rng) -> String {
    let now = jiff::Timestamp::now().to_string();
    let mut out = String::with_capacity(batch * 260 + 16);
    out.push_str("{\"events\":[");
    for index in 0..batch {
        if index > 0 {
            out.push(',');
        }
        let device = rng.random_range(0..50_000u32);
        let roll = rng.random_range(0..100u32);
        let country = ["US", "DE", "BR", "IN", "JP"][rng.random_range(0..5)];
        let _ = write!(
            out,
            "{{\"id\":\"{run}-{sequence}-{index}\",\"timestamp\":\"{now}\",\"device\":{{\"gaid\":\"lg-{device:08}\",\"os\":\"android\",\"os_version\":\"14\",\"country\":\"{country}\",\"ip\":\"198.51.{}.{}\"}}",
            device % 250,
            device / 250 % 250
        );
        match roll {
            0..=9 => out.push_str(",\"type\":\"install\"}"),
            10..=79 => out.push_str(",\"type\":\"session\"}"),
            _ => {
                let currency = ["USD", "EUR", "BRL"][rng.random_range(0..3)];
                let cents = rng.random_range(99..4999u32);
                let _ = write!(
                    out,
                    ",\"type\":\"event\",\"name\":\"purchase\",\"revenue\":{{\"amount\":{}.{:02},\"currency\":\"{currency}\"}}}}",
                    cents / 100,
                    cents % 100
                );
            }
        }
    }
    out.push_str("]}");
    out
}

async fn resident_mb(client: &reqwest::Client, url: &str) -> Option<f64> {
    let text = client.get(format!("{url}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|bytes| bytes / 1_048_576.0)
}

pub async fn run(options: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(
        options.batch >= 1 && options.batch <= 1000,
        "--batch must be between 1 and 1000"
    );
    anyhow::ensure!(
        options.concurrency >= 1 && options.concurrency <= 4096,
        "--concurrency must be between 1 and 4096"
    );
    let url = options.url.trim_end_matches('/').to_owned();
    unmogrowp_server::postbacks::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut lines = vec![format!(
        "loadgen: url={url} batch={} concurrency={} events<={} seconds<={}",
        options.batch,
        options.concurrency,
        options.events,
        options.duration.as_secs()
    )];
    let rss_before = resident_mb(&client, &url).await;

    // Baseline: the same server's trivial endpoint at the same concurrency.
    if !options.baseline_duration.is_zero() {
        let deadline = Instant::now() + options.baseline_duration;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..options.concurrency {
            let (client, target) = (client.clone(), format!("{url}{}", options.baseline_path));
            tasks.push(tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match client.get(&target).send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            tally.requests += 1;
                            tally.latencies_us.push(
                                u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX),
                            );
                        }
                        _ => tally.errors += 1,
                    }
                }
                tally
            }));
        }
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await?);
        }
        lines.push(summarize(
            &format!("baseline GET {}", options.baseline_path),
            tallies,
            started.elapsed(),
            false,
        ));
    }

    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let budget = Arc::new(AtomicU64::new(options.events));
    let sequence = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + options.duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.concurrency {
        let (client, target, token) =
            (client.clone(), format!("{url}/v1/events"), options.app_token.clone());
        let (budget, sequence, run_id) = (budget.clone(), sequence.clone(), run_id.clone());
        let batch = options.batch as u64;
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_rng(&mut rand::rng());
            while Instant::now() < deadline {
                let taken = budget.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                    left.checked_sub(batch).or((left > 0).then_some(0))
                });
                let Ok(left) = taken else { break };
                let size = left.min(batch) as usize;
                let body = body(size, &run_id, sequence.fetch_add(1, Ordering::Relaxed), &mut rng);
                let sent = Instant::now();
                let reply = client
                    .post(&target)
                    .header("content-type", "application/json")
                    .header("x-app-token", &token)
                    .body(body)
                    .send()
                    .await;
                match reply {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        tally.requests += 1;
                        tally.events += size as u64;
                        tally
                            .latencies_us
                            .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    Ok(response)
                        if response.status().as_u16() == 503
                            || response.status().as_u16() == 429 =>
                    {
                        tally.overloaded += 1;
                        budget.fetch_add(size as u64, Ordering::AcqRel);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    _ => tally.errors += 1,
                }
            }
            tally
        }));
    }
    let mut tallies = Vec::new();
    for task in tasks {
        tallies.push(task.await?);
    }
    lines.push(summarize(
        &format!("ingest POST /v1/events batch={}", options.batch),
        tallies,
        started.elapsed(),
        true,
    ));
    let rss_after = resident_mb(&client, &url).await;
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        lines.push(format!("server_rss_mb: before={before:.1} after={after:.1}"));
    }
    Ok(Report { lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_valid_json_with_unique_ids() {
        let mut rng = rand::rng();
        let text = body(50, "run", 7, &mut rng);
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let events = value["events"].as_array().expect("events");
        assert_eq!(events.len(), 50);
        let ids: std::collections::HashSet<&str> =
            events.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(ids.len(), 50);
        assert!(events.iter().all(|e| e["device"]["gaid"].is_string()));
    }

    #[test]
    fn percentiles() {
        let sorted: Vec<u32> = (1..=100).map(|v| v * 1000).collect();
        assert!((percentile(&sorted, 0.5) - 51.0).abs() < 1.01);
        assert!((percentile(&sorted, 0.99) - 99.0).abs() < 1.01);
        assert!(percentile(&[], 0.5).abs() < f64::EPSILON);
    }
}
