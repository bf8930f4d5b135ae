import { createHash } from 'node:crypto';
import { ApiGatewayManagementApiClient, PostToConnectionCommand, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-apigatewaymanagementapi';
import type { FinalizeHandler, FinalizeHandlerArguments } from '@smithy/types';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { AWS_CREDENTIALS, RUNTIMES, TestClient, makeToken, startRuntime } from '../../../test-support/harness.js';

/** A request as it left the AWS SDK, signed, so a test can replay it (tampered) with fetch. */
interface CapturedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

/** The AWS SDK client for the management API, recording each request as it leaves signed. */
function recordingClient(endpoint: string): { api: ApiGatewayManagementApiClient; sent: CapturedRequest[] } {
  const api = new ApiGatewayManagementApiClient({ endpoint, region: 'eu-west-2', credentials: AWS_CREDENTIALS });
  const sent: CapturedRequest[] = [];
  api.middlewareStack.addRelativeTo(
    (next: FinalizeHandler<ServiceInputTypes, ServiceOutputTypes>) => (args: FinalizeHandlerArguments<ServiceInputTypes>) => {
      const request = args.request as HttpRequest;
      const query = new URLSearchParams(request.query as Record<string, string>).toString();
      sent.push({
        url: `${request.protocol}//${request.hostname}:${request.port}${request.path}${query === '' ? '' : `?${query}`}`,
        method: request.method,
        headers: { ...request.headers },
        body: typeof request.body === 'string' ? request.body : Buffer.from(request.body as Uint8Array).toString('utf8'),
      });
      return next(args);
    },
    { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'recordSignedRequest' },
  );
  return { api, sent };
}

/** Replays a captured request with another body, headers (and so signature) unchanged. */
function replay(captured: CapturedRequest, body: string): Promise<Response> {
  const headers = Object.fromEntries(Object.entries(captured.headers).filter(([name]) => name.toLowerCase() !== 'host'));
  return fetch(captured.url, { method: captured.method, headers, body });
}

/** Signs a request as an AWS SigV4 client would, declaring `payloadHash` as the body's hash. */
async function signWithDeclaredHash(url: string, body: string, payloadHash: string): Promise<Record<string, string>> {
  const target = new URL(url);
  const signer = new SignatureV4({ credentials: AWS_CREDENTIALS, region: 'eu-west-2', service: 'execute-api', sha256: Sha256 });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: target.protocol,
      hostname: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      headers: { host: target.host, 'content-type': 'application/json', 'x-amz-content-sha256': payloadHash },
      body,
    }),
  );
  return Object.fromEntries(Object.entries(signed.headers).filter(([name]) => name !== 'host'));
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe.each(RUNTIMES)('SigV4 body integrity on %s', (runtime) => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime(runtime);
  });
  afterAll(async () => {
    await gateway.drain();
  });

  async function connected(): Promise<{ client: TestClient; connectionId: string }> {
    const client = await TestClient.connect(gateway, await makeToken({ rooms: ['sig'] }));
    const joined = await client.join('sig');
    return { client, connectionId: joined.connectionId as string };
  }

  it('refuses a captured PostToConnection replayed with another body of the same length', async () => {
    const { client, connectionId } = await connected();
    const { api, sent } = recordingClient(gateway.url);
    const genuine = '{"type":"notice","text":"hello class"}';
    await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: genuine }));
    expect(await client.next((f) => f.type === 'notice')).toEqual({ type: 'notice', text: 'hello class' });

    const captured = sent[0]!;
    const forged = '{"type":"closing","code":4502,"x":1}';
    const padded = forged.padEnd(genuine.length, ' ');
    expect(padded.length).toBe(genuine.length);
    const tampered = await replay(captured, padded);
    expect(tampered.status).toBe(403);
    // The same capture with its own body is still a valid request: only the body swap is refused.
    expect((await replay(captured, genuine)).status).toBe(200);
    await client.next((f) => f.type === 'notice');
    expect(client.frames.some((f) => f.type === 'closing')).toBe(false);
    await client.close();
  });

  it('refuses UNSIGNED-PAYLOAD and a declared hash that is not the body\'s', async () => {
    const { client, connectionId } = await connected();
    const url = `${gateway.url}/@connections/${encodeURIComponent(connectionId)}`;
    const body = '{"type":"closing","code":4502}';
    for (const declared of ['UNSIGNED-PAYLOAD', sha256('something else')]) {
      const response = await fetch(url, { method: 'POST', headers: await signWithDeclaredHash(url, body, declared), body });
      expect(response.status).toBe(403);
    }
    const honest = await fetch(url, { method: 'POST', headers: await signWithDeclaredHash(url, body.replace('closing', 'honest'), sha256(body.replace('closing', 'honest'))), body: body.replace('closing', 'honest') });
    expect(honest.status).toBe(200);
    await client.next((f) => f.type === 'honest');
    expect(client.frames.some((f) => f.type === 'closing')).toBe(false);
    await client.close();
  });
});

describe('SigV4 body integrity on the publish API', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime('gateway');
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('refuses UNSIGNED-PAYLOAD and a body that is not the signed one', async () => {
    const url = `${gateway.url}/rooms/announcements/messages`;
    const genuine = JSON.stringify({ event: 'class.notice', data: 'Exam moved' });
    const headers = await signWithDeclaredHash(url, genuine, sha256(genuine));
    const forged = JSON.stringify({ event: 'class.notice', data: 'Exam off!!' });
    expect(forged.length).toBe(genuine.length);
    const tampered = await fetch(url, { method: 'POST', headers, body: forged });
    expect(tampered.status).toBe(403);
    expect(await tampered.json()).toMatchObject({ code: 'forbidden' });
    const unsigned = await fetch(url, { method: 'POST', headers: await signWithDeclaredHash(url, forged, 'UNSIGNED-PAYLOAD'), body: forged });
    expect(unsigned.status).toBe(403);
    const accepted = await fetch(url, { method: 'POST', headers, body: genuine });
    expect(accepted.status).toBe(201);
    expect(await accepted.json()).toMatchObject({ room: 'announcements', seq: 1 });
  });
});
