import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { ConfigError } from '@classwire/core';

/** An IPv4 address written inside IPv6 (`::ffff:10.0.0.1`), as a dual-stack socket reports IPv4 peers. */
const MAPPED_IPV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

function plainAddress(address: string): string {
  return MAPPED_IPV4.exec(address)?.[1] ?? address;
}

/**
 * The proxies whose `X-Forwarded-For` is believed (`CLASSWIRE_TRUSTED_PROXIES`). Anyone else could
 * write any address into the header, so without a trusted peer the socket's own address is the client's.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly empty: boolean;

  /** `entries`: addresses or CIDRs, IPv4 or IPv6; throws a ConfigError naming a malformed one. */
  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [address = '', prefix, extra] = entry.split('/');
      const family = isIP(address);
      const bits = family === 4 ? 32 : 128;
      const length = prefix === undefined ? bits : Number(prefix);
      if (family === 0 || extra !== undefined || !/^\d*$/.test(prefix ?? '') || prefix === '' || length > bits) {
        throw new ConfigError(`CLASSWIRE_TRUSTED_PROXIES: "${entry}" is not an IPv4 or IPv6 address or CIDR`);
      }
      this.list.addSubnet(address, length, family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  trusts(address: string): boolean {
    if (this.empty) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    return family !== 0 && this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client's address: the socket's peer, unless that peer is a trusted proxy; then the
   * `X-Forwarded-For` hops are read from the nearest back, and the first one not itself trusted is the
   * client (hops further left were written by parties nobody vouches for).
   */
  sourceIpOf(req: IncomingMessage): string {
    const peer = plainAddress(req.socket.remoteAddress ?? '');
    if (!this.trusts(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((hop) => hop.trim())
      .filter((hop) => hop.length > 0);
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plainAddress(hops[i]!);
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.trusts(hop)) break;
    }
    return client;
  }
}
