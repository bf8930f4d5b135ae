import type { Attendance } from '@classwire/protocol/wire';

/**
 * The class report's view of the records HTTP API (docs/records.md, records-openapi.json), read with a
 * staff member's JWT. Times are epoch milliseconds.
 */

export interface ClassSummary {
  id: string;
  room: string;
  startedAt: number;
  endedAt: number | null;
  startedBy: string | null;
}

export interface TranscriptAuthor {
  userId: string | null;
  name: string | null;
  role: string | null;
}

export interface TranscriptEvent {
  id: number;
  seq: number;
  epoch: string;
  ts: number;
  event: string;
  data: unknown;
  author: TranscriptAuthor | null;
  erased: boolean;
}

export interface TranscriptPage {
  events: TranscriptEvent[];
  /** The `after` of the next page; null on the last page. */
  next: number | null;
}

/** The attendance contract (`GET /classes/{id}/attendance`), shared with the server. */
export type { Attendance, Attendee } from '@classwire/protocol/wire';

/** A refused or failed request, with the catalogue code the server answered. */
export class RecordsApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Largest transcript page the API serves. */
export const TRANSCRIPT_PAGE_MAX = 500;

export class RecordsClient {
  constructor(private readonly token: string) {}

  async classes(room: string): Promise<ClassSummary[]> {
    return (await this.json<{ classes: ClassSummary[] }>(`/classes?room=${encodeURIComponent(room)}&limit=50`)).classes;
  }

  transcript(classId: string, after: number, limit: number): Promise<TranscriptPage> {
    return this.json<TranscriptPage>(`/classes/${encodeURIComponent(classId)}/transcript?after=${after}&limit=${limit}`);
  }

  /**
   * The attendance, or undefined when this server has no attendance route: the class exists (the
   * caller just listed it) yet the path answers 404, or the web app's page rather than JSON.
   */
  async attendance(classId: string): Promise<Attendance | undefined> {
    let response: Response;
    try {
      response = await this.fetch(`/classes/${encodeURIComponent(classId)}/attendance`, 'application/json');
    } catch (error) {
      if (error instanceof RecordsApiError && error.status === 404) return undefined;
      throw error;
    }
    if (!(response.headers.get('content-type') ?? '').includes('application/json')) return undefined;
    return (await response.json()) as Attendance;
  }

  /** The attendance as the server's CSV. */
  async attendanceCsv(classId: string): Promise<Blob> {
    const response = await this.fetch(`/classes/${encodeURIComponent(classId)}/attendance`, 'text/csv');
    return response.blob();
  }

  private async json<T>(path: string): Promise<T> {
    const response = await this.fetch(path, 'application/json');
    // A server without records serves the web app at these paths.
    if (!(response.headers.get('content-type') ?? '').includes('application/json')) throw new RecordsApiError(404, 'not_found', 'this server keeps no class records');
    return (await response.json()) as T;
  }

  private async fetch(path: string, accept: string): Promise<Response> {
    const response = await fetch(path, { headers: { authorization: `Bearer ${this.token}`, accept } });
    if (!response.ok) {
      const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
      throw new RecordsApiError(response.status, body.code ?? 'internal', body.message ?? response.statusText);
    }
    return response;
  }
}
