//! Traces over OTLP (OpenTelemetry): off unless `otel.endpoint` is set.
//!
//! `tracing` spans become OpenTelemetry spans through `tracing-opentelemetry`; they are
//! sampled by `otel.sample_ratio` (a caller's `traceparent` decides for its own trace), put
//! in a bounded queue and exported in batches over OTLP/HTTP with protobuf bodies by a thread
//! of their own ([`processor`]). A full queue drops spans and counts them
//! (`otel_spans_dropped_total`), and while it is over half full no new trace is recorded
//! (`otel_traces_shed_total`): a slow or dead collector never slows a request.
//!
//! What is traced: each HTTP request (`request`: route template, method, status, `tenant.id`), each
//! OLTP statement (named by kind and table, e.g. `SELECT apps`, from sqlx's statement log:
//! [`queries`]), each event-store query (`event_store.*`), each log append (`event_log.append`),
//! each pipeline batch (`pipeline.batch` with its `pipeline.store_batch`: records, partitions,
//! lag), each postback call (`postback.deliver`) and each email (`email.send`). The trace context
//! travels with each event through the event log (`unmogrowp_domain::trace`), so a request, its
//! append, the batch that decided its events and their postback calls are one
//! trace; postback calls carry it on to the network as `traceparent`.

pub mod processor;
pub mod queries;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use serde::Deserialize;
use std::time::Duration;

/// The `[otel]` section (`UNMOGROWP_OTEL__*`): where traces go and how many are kept.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtelConfig {
    /// An OTLP/HTTP receiver, e.g. `http://collector:4318` (`otel.endpoint` /
    /// `UNMOGROWP_OTEL__ENDPOINT`); spans are posted to `<endpoint>/v1/traces` (a URL with its
    /// own path is used as it is). Unset or empty: tracing is off.
    pub endpoint: Option<String>,
    /// The share of traces recorded, from 0 to 1 (`otel.sample_ratio`, default 1). A request
    /// that brings a `traceparent` follows its caller's decision instead.
    pub sample_ratio: f64,
    /// `service.name` of the spans (`otel.service_name`, default `unmogrowp`).
    pub service_name: String,
    /// Finished spans waiting for export at most; past it they are dropped and counted
    /// (`otel.queue_size`, default 8192).
    pub queue_size: usize,
    /// Spans per export request at most (`otel.batch_size`, default 512).
    pub batch_size: usize,
    /// Longest wait before a partial batch is exported, in milliseconds
    /// (`otel.export_interval_ms`, default 1000).
    pub export_interval_ms: u64,
    /// Time allowed for one export request, in milliseconds (`otel.export_timeout_ms`,
    /// default 10 000).
    pub export_timeout_ms: u64,
}

impl Default for OtelConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            sample_ratio: 1.0,
            service_name: "unmogrowp".to_owned(),
            queue_size: 8_192,
            batch_size: 512,
            export_interval_ms: 1_000,
            export_timeout_ms: 10_000,
        }
    }
}

impl OtelConfig {
    /// The traces URL, `None` when tracing is off.
    ///
    /// # Errors
    ///
    /// The endpoint is not an `http` or `https` URL; the message names the setting.
    pub fn traces_url(&self) -> Result<Option<String>, String> {
        let Some(endpoint) = self.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty())
        else {
            return Ok(None);
        };
        let url = url::Url::parse(endpoint)
            .map_err(|error| format!("otel.endpoint `{endpoint}` is not a URL: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "otel.endpoint `{endpoint}` must be an http(s) URL such as http://collector:4318"
            ));
        }
        if url.path() == "/" || url.path().is_empty() {
            return Ok(Some(format!("{}/v1/traces", endpoint.trim_end_matches('/'))));
        }
        Ok(Some(endpoint.to_owned()))
    }

    /// Checks the settings (run when the configuration loads).
    ///
    /// # Errors
    ///
    /// A setting is out of range; the message names it.
    pub fn validate(&self) -> Result<(), String> {
        self.traces_url()?;
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(format!(
                "otel.sample_ratio must be between 0 and 1, not {}",
                self.sample_ratio
            ));
        }
        for (name, value) in [
            ("otel.queue_size", self.queue_size as u64),
            ("otel.batch_size", self.batch_size as u64),
            ("otel.export_interval_ms", self.export_interval_ms),
            ("otel.export_timeout_ms", self.export_timeout_ms),
        ] {
            if value == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        Ok(())
    }
}

/// Tracing while it is on: the provider (flushed and shut down by [`Tracing::shutdown`]) and
/// the tracer the `tracing` layers hand spans to.
pub struct Tracing {
    provider: SdkTracerProvider,
    /// The tracer spans are made with.
    pub tracer: SdkTracer,
    /// The filter of the layer that hands spans to the tracer.
    pub span_filter: processor::SpanFilter,
}

impl Tracing {
    /// Starts tracing as `config` says; `None` when `otel.endpoint` is unset. Must be called
    /// inside the Tokio runtime (export requests run on it).
    ///
    /// # Errors
    ///
    /// The endpoint is invalid or the exporter cannot be built.
    pub fn start(config: &OtelConfig, role: &str) -> anyhow::Result<Option<Self>> {
        let Some(url) = config.traces_url().map_err(anyhow::Error::msg)? else {
            return Ok(None);
        };
        let client = processor::RuntimeHttpClient::new(
            tokio::runtime::Handle::current(),
            Duration::from_millis(config.export_timeout_ms),
        )?;
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(Duration::from_millis(config.export_timeout_ms))
            .build()?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_attribute(opentelemetry::KeyValue::new("unmogrowp.role", role.to_owned()))
            .build();
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource);
        let processor = processor::QueueProcessor::start(exporter, config)?;
        let span_filter = processor.span_filter(config.queue_size);
        let sampler = processor.shedding(
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))),
            config.queue_size,
        );
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("unmogrowp");
        Ok(Some(Self { provider, tracer, span_filter }))
    }

    /// Exports what is queued and stops the export thread (bounded by the export timeout).
    /// Blocking: call it from a blocking thread or after the server stopped.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.force_flush() {
            tracing::warn!(%error, "could not export the last spans");
        }
        let _ = self.provider.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_get_the_traces_path_unless_they_have_one() {
        let with = |endpoint: &str| OtelConfig {
            endpoint: Some(endpoint.to_owned()),
            ..OtelConfig::default()
        };
        assert_eq!(OtelConfig::default().traces_url(), Ok(None));
        assert_eq!(with("  ").traces_url(), Ok(None));
        assert_eq!(
            with("http://collector:4318").traces_url(),
            Ok(Some("http://collector:4318/v1/traces".to_owned()))
        );
        assert_eq!(
            with("https://collector:4318/").traces_url(),
            Ok(Some("https://collector:4318/v1/traces".to_owned()))
        );
        assert_eq!(
            with("http://collector:4318/custom/traces").traces_url(),
            Ok(Some("http://collector:4318/custom/traces".to_owned()))
        );
        let error = with("collector:4318").traces_url().err().unwrap_or_default();
        assert!(error.contains("otel.endpoint"), "{error}");
        let error = with("ftp://collector").traces_url().err().unwrap_or_default();
        assert!(error.contains("http(s)"), "{error}");
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let ratio = OtelConfig { sample_ratio: 1.5, ..OtelConfig::default() };
        assert!(ratio.validate().err().unwrap_or_default().contains("otel.sample_ratio"));
        let queue = OtelConfig { queue_size: 0, ..OtelConfig::default() };
        assert!(queue.validate().err().unwrap_or_default().contains("otel.queue_size"));
        assert_eq!(OtelConfig::default().validate(), Ok(()));
    }
}
