/**
 * Tokens for the classroom app: the gateway's development token endpoint (`serve --dev`), and the
 * identity this tab remembers so that the same person re-joining the same class keeps their user id
 * (and so their messages). A deployment with its own sign-in passes a different `getToken`.
 */
import type { ClassroomCredentials, JoinRequest } from '@classwire/vue';

export async function fetchDevToken(origin: string, request: JoinRequest, userId: string | undefined): Promise<ClassroomCredentials> {
  const knownUserId = userId ?? rememberedUserId(request);
  const response = await fetch(`${origin}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: request.name, role: request.role, rooms: [request.classroom], ...(knownUserId === undefined ? {} : { userId: knownUserId }) }),
  });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { message?: string };
    throw new Error(body.message ?? `the server refused a token (${response.status})`);
  }
  const credentials = (await response.json()) as ClassroomCredentials;
  remember(request, credentials.userId);
  return credentials;
}

const IDENTITY_KEY = 'classwire.identity';

function rememberedUserId(request: JoinRequest): string | undefined {
  try {
    const saved = JSON.parse(sessionStorage.getItem(IDENTITY_KEY) ?? 'null') as (JoinRequest & { userId: string }) | null;
    if (saved !== null && saved.name === request.name && saved.role === request.role && saved.classroom === request.classroom) return saved.userId;
  } catch {
    // unreadable storage: a new identity
  }
  return undefined;
}

function remember(request: JoinRequest, userId: string): void {
  try {
    sessionStorage.setItem(IDENTITY_KEY, JSON.stringify({ ...request, userId }));
  } catch {
    // storage may be unavailable (private mode); the session still works
  }
}

export function lastIdentity(): JoinRequest | undefined {
  try {
    const saved = JSON.parse(sessionStorage.getItem(IDENTITY_KEY) ?? 'null') as JoinRequest | null;
    return saved ?? undefined;
  } catch {
    return undefined;
  }
}
