import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'vitest';

type Response = { $ref?: string; headers?: Record<string, { required?: boolean }>; content?: Record<string, { schema: object }> };

export interface OpenApiDoc {
  paths: Record<string, Record<string, { responses?: Record<string, Response> }>>;
  components: { responses: Record<string, Response> };
  /** The answer to a method none of a path's operations lists (a 405 with `Allow`). */
  'x-method-not-allowed': Response;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

export const spec = JSON.parse(readFileSync(new URL('../records-openapi.json', import.meta.url), 'utf8')) as OpenApiDoc;
const SPEC_ID = 'https://classwire.test/records-openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true });
// The document itself is the root: its "#/components/..." references resolve inside it.
ajv.addSchema({ ...spec, $id: SPEC_ID });

/**
 * Checks that the records OpenAPI document lists this status for the operation (for a method the path
 * does not serve: its `x-method-not-allowed` answer, a 405), and that the body fits its schema (an
 * answer without content has the body ''). With the answer's `headers` (names in lower case), also that
 * every header the document marks required is there, and that a 405's `Allow` names exactly the path's
 * documented operations; a 405 must be checked with its headers.
 */
export function expectDocumented(method: string, path: string, status: number, body: unknown, headers?: Readonly<Record<string, string | undefined>>): void {
  const template = Object.keys(spec.paths).find((candidate) => new RegExp(`^${candidate.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
  expect(template, `${path} is documented`).toBeDefined();
  const pathItem = spec.paths[template!]!;
  const operation = pathItem[method.toLowerCase()];
  let response: Response | undefined;
  let pointer: string;
  if (operation === undefined) {
    expect(status, `${method} ${template} is not an operation: answered 405`).toBe(405);
    expect(headers, `${method} ${template}: a 405 is checked with its headers`).toBeDefined();
    const operations = Object.keys(pathItem).filter((key) => HTTP_METHODS.includes(key)).map((key) => key.toUpperCase());
    const allowed = (headers!.allow ?? '').split(',').map((name) => name.trim());
    expect(allowed.toSorted(), `${method} ${template}: Allow names the documented operations`).toEqual(operations.toSorted());
    response = spec['x-method-not-allowed'];
    pointer = '#/x-method-not-allowed';
  } else {
    response = operation.responses?.[String(status)];
    pointer = `#/paths/${template!.replaceAll('~', '~0').replaceAll('/', '~1')}/${method.toLowerCase()}/responses/${status}`;
  }
  expect(response, `${method} ${template} documents ${status}`).toBeDefined();
  if (response!.$ref !== undefined) {
    const name = response!.$ref.split('/').pop()!;
    response = spec.components.responses[name];
    pointer = `#/components/responses/${name}`;
  }
  if (headers !== undefined) {
    for (const [name, header] of Object.entries(response!.headers ?? {})) {
      if (header.required === true) expect(headers[name.toLowerCase()], `${method} ${template} ${status} carries ${name}`).toBeDefined();
    }
  }
  // A HEAD answer has no body, whatever its status.
  if (method === 'HEAD') return expect(body).toBe('');
  if (response!.content === undefined) return expect(body).toBe('');
  const validate = ajv.getSchema(`${SPEC_ID}${pointer}/content/application~1json/schema`)!;
  expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
}
