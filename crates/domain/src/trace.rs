//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` a request
//! brings or a call carries, and the trace context an event keeps on its way through the
//! event log to the pipeline and the postbacks it triggers.
//!
//! The bridge to OpenTelemetry reads and sets the context of `tracing` spans through
//! `tracing-opentelemetry`; when tracing is off (no OpenTelemetry layer installed) every
//! span's context is empty, [`TraceContext::current`] is `None` and setting a parent does
//! nothing, so callers need no switch of their own.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The name of the W3C header that carries a trace context.
pub const TRACEPARENT: &str = "traceparent";

/// One span's place in a trace: 16-byte trace id, 8-byte span id, and the flags byte
/// (bit 0: sampled). Ids are never all zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TraceContext {
    /// The trace id (W3C `trace-id`).
    pub trace_id: [u8; 16],
    /// The span id of the caller (W3C `parent-id`).
    pub span_id: [u8; 8],
    /// W3C `trace-flags`; bit 0 says the caller sampled (records) the trace.
    pub flags: u8,
}

impl TraceContext {
    /// Reads a `traceparent` header value: `VERSION-TRACEID-PARENTID-FLAGS`, lowercase hex,
    /// 2-32-16-2 digits. Version `ff` and all-zero ids are invalid (the header is then
    /// ignored, as the W3C text asks); a future version is read by its first four fields,
    /// as long as what follows them starts with `-`.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let bytes = header.as_bytes();
        if bytes.len() < 55 {
            return None;
        }
        let version = &header[0..2];
        if !is_lower_hex(version) || version == "ff" {
            return None;
        }
        if version == "00" && bytes.len() != 55 {
            return None;
        }
        if bytes.len() > 55 && bytes[55] != b'-' {
            return None;
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let (trace, span, flags) = (&header[3..35], &header[36..52], &header[53..55]);
        if !is_lower_hex(trace) || !is_lower_hex(span) || !is_lower_hex(flags) {
            return None;
        }
        let mut context = TraceContext { trace_id: [0; 16], span_id: [0; 8], flags: 0 };
        hex_into(trace, &mut context.trace_id)?;
        hex_into(span, &mut context.span_id)?;
        let mut flag = [0u8; 1];
        hex_into(flags, &mut flag)?;
        context.flags = flag[0];
        context.is_valid().then_some(context)
    }

    /// The `traceparent` header value (version `00`).
    pub fn to_traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id_hex(), hex(&self.span_id), self.flags)
    }

    /// The trace id as 32 lowercase hex digits, as trace back ends show it.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// Whether the caller records this trace.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    fn is_valid(&self) -> bool {
        self.trace_id != [0; 16] && self.span_id != [0; 8]
    }

    /// The context of the current `tracing` span when it belongs to a sampled OpenTelemetry
    /// trace; `None` when tracing is off or the trace is not recorded.
    pub fn current() -> Option<Self> {
        Self::of_span(&tracing::Span::current())
    }

    /// The context of `span` when it belongs to a sampled OpenTelemetry trace (see
    /// [`TraceContext::current`]).
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        Self::from_span_context(&span_context).filter(Self::sampled)
    }

    /// The same context in OpenTelemetry's terms; `None` for an invalid one.
    pub fn from_span_context(span_context: &SpanContext) -> Option<Self> {
        if !span_context.is_valid() {
            return None;
        }
        Some(TraceContext {
            trace_id: span_context.trace_id().to_bytes(),
            span_id: span_context.span_id().to_bytes(),
            flags: span_context.trace_flags().to_u8(),
        })
    }

    /// This context as a remote parent in OpenTelemetry's terms.
    pub fn span_context(&self) -> SpanContext {
        SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.span_id),
            TraceFlags::new(self.flags),
            true,
            TraceState::NONE,
        )
    }

    /// Makes this context the parent of `span`, which must not have been entered yet (a
    /// started span keeps its parent). Does nothing when tracing is off.
    pub fn adopt(&self, span: &tracing::Span) {
        let parent = opentelemetry::Context::new().with_remote_span_context(self.span_context());
        let _ = span.set_parent(parent);
    }

    /// Links `span` to this context (a batch that handles records from several traces is
    /// linked to each). Does nothing when tracing is off.
    pub fn link(&self, span: &tracing::Span) {
        span.add_link(self.span_context());
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex_into(text: &str, out: &mut [u8]) -> Option<()> {
    let bytes = text.as_bytes();
    if bytes.len() != out.len() * 2 {
        return None;
    }
    for (index, pair) in bytes.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[index] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_and_writes_the_w3c_example() {
        let context = TraceContext::parse(EXAMPLE).expect("the specification's example");
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert!(context.sampled());
        assert_eq!(context.to_traceparent(), EXAMPLE);
        assert!(!TraceContext::parse(&EXAMPLE.replace("-01", "-00")).expect("valid").sampled());
    }

    #[test]
    fn refuses_what_the_specification_calls_invalid() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_fields() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        let context = TraceContext::parse(later).expect("a future version");
        assert_eq!(context.to_traceparent(), EXAMPLE);
    }

    #[test]
    fn open_telemetry_round_trip() {
        let context = TraceContext::parse(EXAMPLE).expect("valid");
        let back = TraceContext::from_span_context(&context.span_context());
        assert_eq!(back, Some(context));
        assert_eq!(TraceContext::from_span_context(&SpanContext::empty_context()), None);
    }

    #[test]
    fn without_an_open_telemetry_layer_nothing_is_current() {
        let span = tracing::info_span!("outside");
        let _entered = span.enter();
        assert_eq!(TraceContext::current(), None);
        // Setting a parent or a link without the layer is harmless.
        let context = TraceContext::parse(EXAMPLE).expect("valid");
        context.adopt(&tracing::Span::current());
        context.link(&tracing::Span::current());
    }
}
