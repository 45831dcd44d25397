//! The export side of tracing: a bounded queue of finished spans drained by one thread that
//! exports them in batches, and the HTTP client the OTLP exporter posts with.
//!
//! The SDK's own batch processor drops spans on a full queue too, but keeps the count to
//! itself (one log line at shutdown); this one counts every drop in
//! `otel_spans_dropped_total`, exports and failures in `otel_spans_exported_total` and
//! `otel_export_errors_total`, so an operator sees a struggling collector on `/metrics`.

use super::OtelConfig;
use crate::metric_names::{
    OTEL_EXPORT_ERRORS_TOTAL, OTEL_SPANS_DROPPED_TOTAL, OTEL_SPANS_EXPORTED_TOTAL,
    OTEL_TRACES_SHED_TOTAL,
};
use bytes::Bytes;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the export thread looks for a flush or shutdown request while spans are quiet.
const CONTROL_TICK: Duration = Duration::from_millis(50);

/// The OTLP exporter's HTTP client: the server's `reqwest` (rustls) client, with every call
/// run on the Tokio runtime so that the export thread, which is not a runtime thread, can
/// wait for it.
#[derive(Debug)]
pub(super) struct RuntimeHttpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl RuntimeHttpClient {
    pub(super) fn new(runtime: tokio::runtime::Handle, timeout: Duration) -> anyhow::Result<Self> {
        unmogrowp_jobs::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("unmogrowp-otlp/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for RuntimeHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let call = async move {
            let response = client.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut answer = http::Response::new(body);
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok::<_, reqwest::Error>(answer)
        };
        Ok(self.runtime.spawn(call).await??)
    }
}

enum Control {
    Flush(Sender<OTelSdkResult>),
    Shutdown(Sender<OTelSdkResult>),
}

/// Queues finished spans (never blocking the thread that ends them) for a thread of its own
/// that exports them in batches of `otel.batch_size`, at least every
/// `otel.export_interval_ms`.
#[derive(Debug)]
pub(super) struct QueueProcessor {
    spans: SyncSender<SpanData>,
    /// Spans in the queue now (the export thread takes them off).
    queued: Arc<AtomicUsize>,
    control: Mutex<Sender<Control>>,
    timeout: Duration,
    dropped: metrics::Counter,
}

impl QueueProcessor {
    pub(super) fn start<E: SpanExporter + 'static>(
        exporter: E,
        config: &OtelConfig,
    ) -> anyhow::Result<Self> {
        let (spans, queue) = mpsc::sync_channel(config.queue_size);
        let (control, requests) = mpsc::channel();
        let batch_size = config.batch_size;
        let interval = Duration::from_millis(config.export_interval_ms);
        let runtime = tokio::runtime::Handle::current();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = queued.clone();
        std::thread::Builder::new().name("otel-export".to_owned()).spawn(move || {
            export_loop(&exporter, &queue, &taken, &requests, batch_size, interval, &runtime);
        })?;
        Ok(Self {
            spans,
            queued,
            control: Mutex::new(control),
            timeout: Duration::from_millis(config.export_timeout_ms) * 2,
            dropped: metrics::counter!(OTEL_SPANS_DROPPED_TOTAL),
        })
    }

    /// The layer filter that lets no span through while the queue is over half full (see
    /// [`SpanFilter`]).
    pub(super) fn span_filter(&self, queue_size: usize) -> SpanFilter {
        SpanFilter { queued: self.queued.clone(), high_water: (queue_size / 2).max(1) }
    }

    /// A sampler that starts no new trace while the queue is over half full (see
    /// [`Shedding`]).
    pub(super) fn shedding(
        &self,
        inner: opentelemetry_sdk::trace::Sampler,
        queue_size: usize,
    ) -> Shedding {
        Shedding {
            inner,
            queued: self.queued.clone(),
            high_water: (queue_size / 2).max(1),
            shed: metrics::counter!(OTEL_TRACES_SHED_TOTAL),
        }
    }

    fn ask(
        &self,
        make: impl FnOnce(Sender<OTelSdkResult>) -> Control,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (reply, answer) = mpsc::channel();
        let sent = self
            .control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(make(reply));
        if sent.is_err() {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        answer.recv_timeout(timeout).unwrap_or(Err(OTelSdkError::Timeout(timeout)))
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        // Counted before sending, so the export thread never takes it below zero.
        self.queued.fetch_add(1, Ordering::Relaxed);
        match self.spans.try_send(span) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.dropped.increment(1);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Control::Flush, self.timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.ask(Control::Shutdown, timeout)
    }
}

/// The sampler in front of the configured one: while the export queue is over half full (the
/// trace back end is slow or down), new traces — a span without a parent in this process — are
/// not recorded at all, and counted in `otel_traces_shed_total`; spans of traces already
/// recording go on (the other half of the queue is theirs). Building spans only to drop them
/// would cost every request for nothing.
#[derive(Clone, Debug)]
pub(super) struct Shedding {
    inner: opentelemetry_sdk::trace::Sampler,
    queued: Arc<AtomicUsize>,
    high_water: usize,
    shed: metrics::Counter,
}

impl ShouldSample for Shedding {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[opentelemetry::KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let local_parent = parent_context.is_some_and(|cx| {
            let parent = cx.span().span_context().clone();
            parent.is_valid() && !parent.is_remote()
        });
        if !local_parent && self.queued.load(Ordering::Relaxed) >= self.high_water {
            self.shed.increment(1);
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: parent_context
                    .map(|cx| cx.span().span_context().trace_state().clone())
                    .unwrap_or_default(),
            };
        }
        self.inner.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

/// The filter of the `tracing` → OpenTelemetry layer: spans at info level and above, and none
/// at all while the export queue is over half full — the layer then does no work for them
/// (no span builder, no ids, no sampling), which is most of what tracing costs a request.
/// Children of a span it skipped start traces of their own when it lets spans through again.
#[derive(Clone, Debug)]
pub struct SpanFilter {
    queued: Arc<AtomicUsize>,
    high_water: usize,
}

impl SpanFilter {
    fn admits(metadata: &tracing::Metadata<'_>) -> bool {
        metadata.is_span() && *metadata.level() <= tracing::Level::INFO
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::layer::Filter<S> for SpanFilter {
    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        _context: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        Self::admits(metadata) && self.queued.load(Ordering::Relaxed) < self.high_water
    }

    fn callsite_enabled(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if Self::admits(metadata) {
            // Decided per span: the queue's fill changes.
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::INFO)
    }
}

fn export_loop<E: SpanExporter>(
    exporter: &E,
    queue: &Receiver<SpanData>,
    queued: &AtomicUsize,
    requests: &Receiver<Control>,
    batch_size: usize,
    interval: Duration,
    runtime: &tokio::runtime::Handle,
) {
    let mut batch = Vec::with_capacity(batch_size);
    let mut due = Instant::now() + interval;
    let export = |batch: &mut Vec<SpanData>| -> OTelSdkResult {
        if batch.is_empty() {
            return Ok(());
        }
        let spans = std::mem::take(batch);
        let count = spans.len() as u64;
        let result = runtime.block_on(exporter.export(spans));
        match &result {
            Ok(()) => metrics::counter!(OTEL_SPANS_EXPORTED_TOTAL).increment(count),
            Err(error) => {
                metrics::counter!(OTEL_EXPORT_ERRORS_TOTAL).increment(1);
                tracing::debug!(%error, spans = count, "exporting spans failed");
            }
        }
        result
    };
    loop {
        let wait = due.saturating_duration_since(Instant::now()).min(CONTROL_TICK);
        match queue.recv_timeout(wait) {
            Ok(span) => {
                queued.fetch_sub(1, Ordering::Relaxed);
                batch.push(span);
                if batch.len() >= batch_size {
                    let _ = export(&mut batch);
                    due = Instant::now() + interval;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let _ = export(&mut batch);
                return;
            }
        }
        if Instant::now() >= due {
            let _ = export(&mut batch);
            due = Instant::now() + interval;
        }
        match requests.try_recv() {
            Ok(Control::Flush(reply)) => {
                let result = drain(queue, queued, &mut batch, batch_size, &export);
                let _ = reply.send(result);
            }
            Ok(Control::Shutdown(reply)) => {
                let result = drain(queue, queued, &mut batch, batch_size, &export);
                let _ = exporter.shutdown();
                let _ = reply.send(result);
                return;
            }
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => {
                let _ = export(&mut batch);
                return;
            }
        }
    }
}

/// Exports everything queued now, in batches; the first failure is the result.
fn drain(
    queue: &Receiver<SpanData>,
    queued: &AtomicUsize,
    batch: &mut Vec<SpanData>,
    batch_size: usize,
    export: &impl Fn(&mut Vec<SpanData>) -> OTelSdkResult,
) -> OTelSdkResult {
    let mut result = Ok(());
    while let Ok(span) = queue.try_recv() {
        queued.fetch_sub(1, Ordering::Relaxed);
        batch.push(span);
        if batch.len() >= batch_size {
            result = result.and(export(batch));
        }
    }
    result.and(export(batch))
}
