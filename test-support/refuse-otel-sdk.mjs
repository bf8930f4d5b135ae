// `node --import ./refuse-otel-sdk.mjs`: any import of the OpenTelemetry SDK fails, so a process that
// runs normally under it provably never loaded the SDK. (@opentelemetry/api is prom-client's.)
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, next) {
  if (/^@opentelemetry\\/(sdk-|resources|exporter-)/.test(specifier)) throw new Error('refused to load ' + specifier);
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
