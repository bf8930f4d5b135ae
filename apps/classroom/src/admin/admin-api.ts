/** The ops console's view of the gateway's `/admin/api/*` (packages/gateway/src/admin.ts). */

import type { AdminOverview as Overview, AdminUserConnection as UserConnection } from '@classwire/protocol/wire';

// The API's shapes are defined once, in the protocol package, for the gateway and this console alike.
export type { AdminNodeReport as NodeReport, AdminOverview as Overview, AdminRoomReport as RoomReport, AdminUserConnection as UserConnection } from '@classwire/protocol/wire';

/** A refused or failed request, with the catalogue code the gateway answered. */
export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class AdminClient {
  constructor(private readonly key: string) {}

  overview(): Promise<Overview> {
    return this.request<Overview>('GET', 'overview');
  }

  async connectionsOf(userId: string): Promise<UserConnection[]> {
    return (await this.request<{ connections: UserConnection[] }>('GET', `users/${encodeURIComponent(userId)}/connections`)).connections;
  }

  async closeConnection(connectionId: string): Promise<void> {
    await this.request('POST', `connections/${encodeURIComponent(connectionId)}/close`);
  }

  async closeRoom(room: string): Promise<number> {
    return (await this.request<{ closed: number }>('POST', `rooms/${encodeURIComponent(room)}/close`)).closed;
  }

  private async request<T>(method: 'GET' | 'POST', path: string): Promise<T> {
    const response = await fetch(`/admin/api/${path}`, { method, headers: { authorization: `Bearer ${this.key}` } });
    const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
    if (!response.ok) throw new AdminApiError(response.status, body.code ?? 'internal', body.message ?? response.statusText);
    return body as T;
  }
}
