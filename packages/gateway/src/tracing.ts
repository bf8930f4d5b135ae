import type { EngineObserver } from '@classwire/core';
import type { SpanExporter } from '@opentelemetry/sdk-trace';

/** The handlings that become spans: the ones an operator follows a user's session by. */
const TRACED_ACTIONS = new Set(['connect', 'join', 'publish']);

export interface Tracing {
  /** An engine observer that forwards to `inner` and records a span for each traced handling. */
  observe(inner: EngineObserver): EngineObserver;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing (CLASSWIRE_OTEL_ENABLED): spans `classwire.connect`, `classwire.join` and
 * `classwire.publish`, exported over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (the exporter reads the
 * standard OTEL_* variables), or to `exporter` when given. The SDK is imported here, on demand, so a
 * node without tracing never loads it.
 */
export async function startTracing(nodeId: string, exporter?: SpanExporter): Promise<Tracing> {
  const [sdk, { resourceFromAttributes }] = await Promise.all([import('@opentelemetry/sdk-trace'), import('@opentelemetry/resources')]);
  const processor =
    exporter === undefined
      ? new sdk.BatchSpanProcessor({ exporter: new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter() })
      : new sdk.SimpleSpanProcessor({ exporter });
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'classwire', 'service.instance.id': nodeId }),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('classwire');
  return {
    observe(inner) {
      return {
        errorSent: (code) => inner.errorSent(code),
        published: (seconds, outcome) => inner.published(seconds, outcome),
        resumed: (recovered) => inner.resumed(recovered),
        handled(action, seconds) {
          inner.handled?.(action, seconds);
          if (!TRACED_ACTIONS.has(action)) return;
          // The engine reports a handling when it is over: the span is recorded with its real start.
          const end = Date.now();
          tracer.startSpan(`classwire.${action}`, { startTime: end - seconds * 1000, attributes: { 'classwire.node': nodeId } }).end(end);
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}
