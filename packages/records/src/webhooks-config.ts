import { envInt, envList } from '@classwire/core';
import { z } from 'zod';

/**
 * Webhook endpoints from the environment. The first endpoint is `CLASSWIRE_WEBHOOK_URL`, `_SECRET`,
 * `_EVENTS`, `_MESSAGES`; up to three more are `CLASSWIRE_WEBHOOK_2_URL` ... `CLASSWIRE_WEBHOOK_4_MESSAGES`.
 * An endpoint's name in the outbox and the dead-letter API is its slot: `1` to `4`.
 */
export const WEBHOOK_SLOTS = ['', '2_', '3_', '4_'] as const;
type Slot = (typeof WEBHOOK_SLOTS)[number];

/** The webhook types Classwire sends; `moderation.*` carries the classroom's moderation event names. */
export const WEBHOOK_TYPES = ['class.started', 'class.ended', 'member.joined', 'member.left', 'moderation.*', 'message.published'] as const;
/** What an endpoint receives when `_EVENTS` is not set: everything but the opt-in `message.published`. */
export const DEFAULT_WEBHOOK_EVENTS = ['class.*', 'member.*', 'moderation.*'] as const;

/** An event pattern: a dotted name, or a dotted prefix ending in `.*`, or `*` alone. */
const PATTERN = /^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?)$/;

/** True when `pattern` (`class.*`, `chat.message`, `*`) matches the dotted name `name`. */
export function matchesPattern(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

/** True when some type Classwire sends could match the pattern: a typo is a configuration error. */
function matchesSomeType(pattern: string): boolean {
  return WEBHOOK_TYPES.some((type) => {
    if (type.endsWith('.*')) return matchesPattern(pattern, `${type.slice(0, -1)}x`) || pattern.startsWith(type.slice(0, -1));
    return matchesPattern(pattern, type);
  });
}

const patternList = (what: string, mustMatchType: boolean) =>
  envList.pipe(
    z
      .array(
        z
          .string()
          .max(100)
          .regex(PATTERN, `each ${what} is a dotted name or a prefix ending in .* (like class.*)`)
          .refine((pattern) => !mustMatchType || matchesSomeType(pattern), { error: (issue) => `"${String(issue.input)}" matches no webhook type (${WEBHOOK_TYPES.join(', ')})` }),
      )
      .min(1, `name at least one ${what}`)
      .max(32),
  );

/** `whsec_` then base64 of 24 to 64 random bytes (the Standard Webhooks secret format). */
const secret = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'a webhook secret is whsec_ followed by base64')
  .refine((value) => {
    const bytes = Buffer.from(value.slice('whsec_'.length), 'base64').length;
    return bytes >= 24 && bytes <= 64;
  }, 'a webhook secret holds 24 to 64 bytes (generate one with: echo whsec_$(openssl rand -base64 32))');

const url = z.url({ protocol: /^https?$/, error: 'a webhook URL is http:// or https://' });

type SlotEnv = {
  [S in Slot as `CLASSWIRE_WEBHOOK_${S}URL`]: z.ZodOptional<typeof url>;
} & {
  [S in Slot as `CLASSWIRE_WEBHOOK_${S}SECRET`]: z.ZodOptional<typeof secret>;
} & {
  [S in Slot as `CLASSWIRE_WEBHOOK_${S}EVENTS` | `CLASSWIRE_WEBHOOK_${S}MESSAGES`]: z.ZodOptional<ReturnType<typeof patternList>>;
};

const slotEnv = Object.fromEntries(
  WEBHOOK_SLOTS.flatMap((slot) => [
    [`CLASSWIRE_WEBHOOK_${slot}URL`, url.optional()],
    [`CLASSWIRE_WEBHOOK_${slot}SECRET`, secret.optional()],
    [`CLASSWIRE_WEBHOOK_${slot}EVENTS`, patternList('event pattern', true).optional()],
    [`CLASSWIRE_WEBHOOK_${slot}MESSAGES`, patternList('room event pattern', false).optional()],
  ]),
) as SlotEnv;

/** The webhook variables (README's configuration table and docs/records.md). */
export const WEBHOOK_ENV = {
  ...slotEnv,
  CLASSWIRE_WEBHOOK_TIMEOUT_MS: envInt(100).max(60_000).default(10_000),
  CLASSWIRE_WEBHOOK_RETRY_HOURS: envInt(1).max(72).default(24),
  CLASSWIRE_WEBHOOK_CONCURRENCY: envInt(1).max(64).default(4),
};

export type WebhookEnv = z.infer<z.ZodObject<typeof WEBHOOK_ENV>>;

export interface WebhookEndpoint {
  /** The slot: `1` to `4`. */
  name: string;
  url: string;
  /** `whsec_...` */
  secret: string;
  /** Webhook type patterns this endpoint receives. */
  events: readonly string[];
  /** Room event patterns sent as `message.published` (none unless configured: it is opt-in). */
  messages: readonly string[];
}

export interface WebhookSettings {
  endpoints: readonly WebhookEndpoint[];
  timeoutMs: number;
  retryForMs: number;
  /** Deliveries in flight per endpoint. */
  concurrency: number;
}

/**
 * The configured endpoints, or undefined when none is; a half-configured endpoint (a URL without a
 * secret, a secret or filter without a URL) is a problem pushed to `problems`.
 */
export function webhookSettings(e: WebhookEnv, problems: string[]): WebhookSettings | undefined {
  const endpoints: WebhookEndpoint[] = [];
  WEBHOOK_SLOTS.forEach((slot, index) => {
    const prefix = `CLASSWIRE_WEBHOOK_${slot}`;
    const target = e[`CLASSWIRE_WEBHOOK_${slot}URL`];
    const key = e[`CLASSWIRE_WEBHOOK_${slot}SECRET`];
    const events = e[`CLASSWIRE_WEBHOOK_${slot}EVENTS`];
    const messages = e[`CLASSWIRE_WEBHOOK_${slot}MESSAGES`];
    if (target === undefined) {
      if (key !== undefined || events !== undefined || messages !== undefined) problems.push(`${prefix}URL: set it, or remove the other ${prefix}* variables`);
      return;
    }
    if (key === undefined) {
      problems.push(`${prefix}SECRET: every webhook endpoint needs its own secret (whsec_...)`);
      return;
    }
    const wanted = events ?? [...DEFAULT_WEBHOOK_EVENTS];
    const resolvedEvents = messages !== undefined && !wanted.some((pattern) => matchesPattern(pattern, 'message.published')) ? [...wanted, 'message.published'] : wanted;
    endpoints.push({ name: String(index + 1), url: target, secret: key, events: resolvedEvents, messages: messages ?? [] });
  });
  if (endpoints.length === 0) return undefined;
  return { endpoints, timeoutMs: e.CLASSWIRE_WEBHOOK_TIMEOUT_MS, retryForMs: e.CLASSWIRE_WEBHOOK_RETRY_HOURS * 60 * 60 * 1000, concurrency: e.CLASSWIRE_WEBHOOK_CONCURRENCY };
}
