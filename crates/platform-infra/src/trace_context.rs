//! W3C Trace Context (`traceparent`) propagation: HTTP request → outbox → Kafka
//! record header → consumer, so one trace id spans a change from the POST to its
//! application in the orders replica.
//!
//! See <https://www.w3.org/TR/trace-context/#traceparent-header>.

use std::fmt;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header name, on HTTP and on Kafka records.
pub const TRACEPARENT: &str = "traceparent";

/// A parsed `traceparent`: version 00, trace id, parent (span) id, flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: String,
    span_id: String,
    flags: String,
}

fn random_hex(len: usize) -> String {
    let mut hex = String::with_capacity(len);
    while hex.len() < len {
        hex.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    hex.truncate(len);
    hex
}

fn is_hex_id(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && value.bytes().any(|b| b != b'0')
}

impl TraceParent {
    /// A new trace (sampled).
    pub fn new_root() -> Self {
        TraceParent {
            trace_id: random_hex(32),
            span_id: random_hex(16),
            flags: "01".to_owned(),
        }
    }

    /// Parses a version-00 `traceparent`; `None` if it is not valid.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace_id, span_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let flags_ok = flags.len() == 2 && flags.bytes().all(|b| b.is_ascii_hexdigit());
        if version != "00" || parts.next().is_some() || !flags_ok {
            return None;
        }
        if !is_hex_id(trace_id, 32) || !is_hex_id(span_id, 16) {
            return None;
        }
        Some(TraceParent {
            trace_id: trace_id.to_owned(),
            span_id: span_id.to_owned(),
            flags: flags.to_owned(),
        })
    }

    /// The same trace, with a new span as parent: what a hop passes on.
    pub fn child(&self) -> Self {
        TraceParent {
            trace_id: self.trace_id.clone(),
            span_id: random_hex(16),
            flags: self.flags.clone(),
        }
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// Makes `span` a child of this trace context and returns what to pass on
    /// from `span`. With OTLP export on, that is `span`'s own exported ids, so
    /// the collector links the hops; otherwise a new span id in this trace.
    /// Call it before the span is first entered.
    pub fn continue_in(&self, span: &tracing::Span) -> TraceParent {
        let flags = u8::from_str_radix(&self.flags, 16).unwrap_or(1);
        let remote = SpanContext::new(
            TraceId::from_hex(&self.trace_id).unwrap_or(TraceId::INVALID),
            SpanId::from_hex(&self.span_id).unwrap_or(SpanId::INVALID),
            TraceFlags::new(flags),
            true,
            TraceState::default(),
        );
        let adopted = span
            .set_parent(opentelemetry::Context::new().with_remote_span_context(remote))
            .is_ok();
        if adopted {
            TraceParent::passed_on(Some(self), span)
        } else {
            self.child()
        }
    }

    /// What `span`, a child of `parent` (or a root), passes on: its exported
    /// ids when OTLP export is on, else a new span id in the same trace.
    pub fn passed_on(parent: Option<&TraceParent>, span: &tracing::Span) -> TraceParent {
        TraceParent::of_span(span)
            .filter(|own| parent.is_none_or(|p| p.trace_id == own.trace_id))
            .unwrap_or_else(|| parent.map_or_else(TraceParent::new_root, TraceParent::child))
    }

    /// The `traceparent` header of a request, if present and valid.
    pub fn from_headers(headers: &HeaderMap) -> Option<TraceParent> {
        headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(TraceParent::parse)
    }

    fn of_span(span: &tracing::Span) -> Option<TraceParent> {
        let context = span.context();
        let own = context.span().span_context().clone();
        own.is_valid().then(|| TraceParent {
            trace_id: format!("{:032x}", own.trace_id()),
            span_id: format!("{:016x}", own.span_id()),
            flags: format!("{:02x}", own.trace_flags().to_u8()),
        })
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

/// Middleware: continues the caller's trace (or starts one), makes the server
/// span's [`TraceParent`] available to handlers as a request extension, and
/// returns it in the response's `traceparent` header.
pub async fn propagate(mut request: Request, next: Next) -> Response {
    let incoming = TraceParent::from_headers(request.headers());
    // The current span is the request's `http` span: the trace layer, outside
    // this middleware, made it a child of `incoming` when it created it.
    let server_span = TraceParent::passed_on(incoming.as_ref(), &tracing::Span::current());
    tracing::debug!(trace_id = server_span.trace_id(), "request traced");
    request.extensions_mut().insert(server_span.clone());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&server_span.to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(TRACEPARENT), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats_and_continues_a_trace() {
        let raw = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = TraceParent::parse(raw).expect("valid");
        assert_eq!(parent.to_string(), raw);
        let child = parent.child();
        assert_eq!(child.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(child.to_string(), raw);
        assert!(TraceParent::parse(&child.to_string()).is_some());
        assert!(TraceParent::parse(&TraceParent::new_root().to_string()).is_some());
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}
