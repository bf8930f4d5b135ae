import { BILLING_UNIT_BYTES } from '@classwire/aws';
import { GatewayMetrics } from '@classwire/gateway/http';
import { Counter, Histogram } from 'prom-client';

/** What API Gateway would bill for the traffic so far: messages in 32 KB units by direction and kind, and connection minutes. */
export interface BilledUsage {
  /** Inbound units by the frame's `action` (what `$request.body.action` routes on); `other` when it has none. */
  inbound: Record<string, number>;
  /** Outbound units (@connections posts) by the frame's `type` (`batch` for batch frames). */
  outbound: Record<string, number>;
  /** Outbound PostToConnection calls that delivered. */
  posts: number;
  /** Connection minutes, each connection's time rounded up to whole minutes (closed and still open ones). */
  connectionMinutes: number;
}

/** The gateway's metrics plus what API Gateway and Lambda would report (invocations, billed units). */
export class EmulatorMetrics extends GatewayMetrics {
  readonly invocations: Counter<'route' | 'outcome'>;
  readonly invocationSeconds: Histogram<'route'>;
  readonly billedMessages: Counter<'direction'>;
  readonly billedUnits: Counter<'direction' | 'kind'>;
  readonly gonePosts: Counter;
  readonly connectionMs: Counter;
  private readonly usage = { inbound: new Map<string, number>(), outbound: new Map<string, number>(), posts: 0, closedMinutes: 0 };

  constructor(
    connections: () => number,
    /** `connectedAt` of every open connection (epoch ms). */
    private readonly openSince: () => Iterable<number> = () => [],
  ) {
    super({ connections, rooms: () => 0 });
    const registers = [this.registry];
    this.invocations = new Counter({ name: 'classwire_apigw_invocations_total', help: 'Emulated Lambda invocations by route and outcome.', labelNames: ['route', 'outcome'], registers });
    this.invocationSeconds = new Histogram({ name: 'classwire_apigw_invocation_seconds', help: 'Emulated Lambda invocation time by route.', labelNames: ['route'], registers });
    this.billedMessages = new Counter({ name: 'classwire_apigw_billed_messages_total', help: 'Messages API Gateway would bill, in 32 KB units, by direction.', labelNames: ['direction'], registers });
    this.billedUnits = new Counter({
      name: 'classwire_apigw_billed_units_total',
      help: 'Messages API Gateway would bill, in 32 KB units, by direction and frame kind (inbound action, outbound type).',
      labelNames: ['direction', 'kind'],
      registers,
    });
    this.gonePosts = new Counter({ name: 'classwire_apigw_gone_total', help: '@connections calls answered 410.', registers });
    this.connectionMs = new Counter({ name: 'classwire_apigw_connection_milliseconds_total', help: 'Connection time of closed connections (API Gateway bills connection minutes).', registers });
  }

  /** One message in either direction; `text` is the frame (its action or type names the kind). */
  billMessage(direction: 'in' | 'out', bytes: number, text?: string): void {
    const units = Math.max(1, Math.ceil(bytes / BILLING_UNIT_BYTES));
    this.billedMessages.inc({ direction }, units);
    const kind = frameKind(text, direction === 'in' ? 'action' : 'type');
    this.billedUnits.inc({ direction, kind }, units);
    const counts = direction === 'in' ? this.usage.inbound : this.usage.outbound;
    counts.set(kind, (counts.get(kind) ?? 0) + units);
    if (direction === 'out') this.usage.posts += 1;
  }

  connectionClosed(connectedAt: number, now: number): void {
    this.connectionMs.inc(now - connectedAt);
    this.usage.closedMinutes += billedMinutes(now - connectedAt);
  }

  /** The usage API Gateway would bill so far, open connections counted up to `now`. */
  billedUsage(now = Date.now()): BilledUsage {
    let openMinutes = 0;
    for (const connectedAt of this.openSince()) openMinutes += billedMinutes(now - connectedAt);
    return {
      inbound: Object.fromEntries(this.usage.inbound),
      outbound: Object.fromEntries(this.usage.outbound),
      posts: this.usage.posts,
      connectionMinutes: this.usage.closedMinutes + openMinutes,
    };
  }
}

function billedMinutes(ms: number): number {
  return Math.max(1, Math.ceil(ms / 60_000));
}

/** Kinds are a closed set of short names, so a hostile frame cannot grow the label space. */
const KIND = /^[a-z$][a-z_$]{0,15}$/;
const LEADING_TYPE = /^\{"type":"([a-z$][a-z_$]{0,15})"/;
const LEADING_ACTION = /^\{"action":"([a-z$][a-z_$]{0,15})"/;

function frameKind(text: string | undefined, field: 'action' | 'type'): string {
  if (text === undefined) return 'other';
  // Server frames (and the SDK's) name their kind first: no parse for the common case.
  const leading = (field === 'type' ? LEADING_TYPE : LEADING_ACTION).exec(text)?.[1];
  if (leading !== undefined) return leading;
  try {
    const value = (JSON.parse(text) as Record<string, unknown> | null)?.[field];
    return typeof value === 'string' && KIND.test(value) ? value : 'other';
  } catch {
    return 'other';
  }
}
