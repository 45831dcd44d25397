//! Logs (tracing; JSON when configured or when standard output is not a terminal) and the
//! Prometheus recorder (one per process: the `metrics` facade is global).

use crate::config::{Config, LogFormat};
use crate::otel::Tracing;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;

/// Installs the global log subscriber, and traces over OTLP when `otel.endpoint` is set (see
/// [`crate::otel`]); the returned [`Tracing`] exports the last spans at
/// [`Tracing::shutdown`]. Safe to call more than once (later calls install nothing and
/// return `None`). Must be called inside the Tokio runtime.
///
/// # Errors
///
/// Tracing is configured but its exporter cannot be built.
pub fn init_logging(config: &Config) -> anyhow::Result<Option<Tracing>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    type Boxed = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let mut layers: Vec<Boxed> = Vec::new();
    let fmt = tracing_subscriber::fmt::layer().with_target(true);
    layers.push(if json {
        let format = tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false);
        fmt.json().event_format(WithTraceId(format)).with_filter(filter).boxed()
    } else {
        fmt.compact().with_filter(filter).boxed()
    });
    // Slow OLTP statements (sqlx's warnings) are counted as well as logged.
    layers.push(
        crate::slow_queries::SlowStatementCounter
            .with_filter(Targets::new().with_target("sqlx::query", Level::WARN))
            .boxed(),
    );
    let tracing = if tracing::dispatcher::has_been_set() {
        None
    } else {
        crate::otel::Tracing::start(&config.otel, config.role.as_str())?
    };
    if let Some(tracing) = &tracing {
        // Spans at info and above; events stay in the logs, not in spans.
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracing.tracer.clone())
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                // Nothing reads OpenTelemetry's own current context (the code asks spans for
                // theirs), so entering a span need not activate one: each poll of a request's
                // future enters and leaves its span.
                .with_context_activation(false)
                .with_filter(tracing.span_filter.clone())
                .boxed(),
        );
        let system = if config.database_url().is_some() { "postgresql" } else { "sqlite" };
        layers.push(
            crate::otel::queries::StatementSpans::new(tracing.tracer.clone(), system)
                .with_filter(Targets::new().with_target("sqlx::query", Level::DEBUG))
                .boxed(),
        );
    }
    if tracing_subscriber::registry().with(layers).try_init().is_err() {
        return Ok(None);
    }
    Ok(tracing)
}

/// Adds the request's trace id (`trace_id`, when it is traced: see
/// [`crate::request_id::current_trace_id`]) to each JSON log line written while serving it.
struct WithTraceId<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithTraceId<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some(trace_id) = crate::request_id::current_trace_id() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, tracing_subscriber::fmt::format::Writer::new(&mut line), event)?;
        // The line is one JSON object (then a newline): the id goes in before its last brace.
        match line.rfind('}') {
            Some(end) => {
                writer.write_str(&line[..end])?;
                write!(writer, ",\"trace_id\":\"{trace_id}\"")?;
                writer.write_str(&line[end..])
            }
            None => writer.write_str(&line),
        }
    }
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn prometheus() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => {
                    unmogrowp_bus::metric_names::describe();
                    unmogrowp_pipeline::metric_names::describe();
                    unmogrowp_jobs::metric_names::describe();
                    unmogrowp_auth::metric_names::describe();
                    unmogrowp_ingest::metric_names::describe();
                    unmogrowp_shared::metric_names::describe();
                    crate::metric_names::describe();
                    handle
                }
                // Another recorder is installed (only possible in odd embeddings): keep a
                // private one so /metrics still answers.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Prometheus text for the standard `process_*` metrics, read from /proc on Linux.
pub fn process_metrics() -> String {
    let mut out = String::new();
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return out };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
    let field = |index: usize| fields.get(index).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Indexes are 0-based from field 3 (state) of proc(5).
    let ticks_per_second = 100.0;
    let page_size = 4096.0;
    let cpu_seconds = (field(11) + field(12)) / ticks_per_second;
    let threads = field(17);
    let start_ticks = field(19);
    let virtual_bytes = field(20);
    let resident_bytes = field(21) * page_size;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                line.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok())
            })
        })
        .unwrap_or(0.0);
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|dir| dir.count()).unwrap_or(0);
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3).and_then(|v| v.parse::<f64>().ok()))
        })
        .unwrap_or(0.0);
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    };
    metric(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        cpu_seconds,
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        resident_bytes,
    );
    metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtual_bytes);
    metric("process_open_fds", "gauge", "Number of open file descriptors.", open_fds as f64);
    metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", max_fds);
    metric("process_threads", "gauge", "Number of OS threads in the process.", threads);
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        boot_time + start_ticks / ticks_per_second,
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn process_metrics_read_real_values() {
        let text = super::process_metrics();
        let resident = text
            .lines()
            .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(resident > 1_000_000.0, "{text}");
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
    }
}
