import { BILLING_UNIT_BYTES } from '@classwire/aws';
import { GatewayMetrics } from '@classwire/gateway/http';
import { Counter, Histogram } from 'prom-client';

/** The gateway's metrics plus what API Gateway and Lambda would report (invocations, billed units). */
export class EmulatorMetrics extends GatewayMetrics {
  readonly invocations: Counter<'route' | 'outcome'>;
  readonly invocationSeconds: Histogram<'route'>;
  readonly billedMessages: Counter<'direction'>;
  readonly gonePosts: Counter;
  readonly connectionMs: Counter;

  constructor(connections: () => number) {
    super({ connections, rooms: () => 0 });
    const registers = [this.registry];
    this.invocations = new Counter({ name: 'classwire_apigw_invocations_total', help: 'Emulated Lambda invocations by route and outcome.', labelNames: ['route', 'outcome'], registers });
    this.invocationSeconds = new Histogram({ name: 'classwire_apigw_invocation_seconds', help: 'Emulated Lambda invocation time by route.', labelNames: ['route'], registers });
    this.billedMessages = new Counter({ name: 'classwire_apigw_billed_messages_total', help: 'Messages API Gateway would bill, in 32 KB units, by direction.', labelNames: ['direction'], registers });
    this.gonePosts = new Counter({ name: 'classwire_apigw_gone_total', help: '@connections calls answered 410.', registers });
    this.connectionMs = new Counter({ name: 'classwire_apigw_connection_milliseconds_total', help: 'Connection time of closed connections (API Gateway bills connection minutes).', registers });
  }

  billMessage(direction: 'in' | 'out', bytes: number): void {
    this.billedMessages.inc({ direction }, Math.max(1, Math.ceil(bytes / BILLING_UNIT_BYTES)));
  }
}
