import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'vitest';

type Response = { $ref?: string; content?: Record<string, { schema: object }> };

export interface OpenApiDoc {
  paths: Record<string, Record<string, { responses?: Record<string, Response> }>>;
  components: { responses: Record<string, Response> };
  /** The answer to a method none of a path's operations lists. */
  'x-unsupported-method': Response;
}

export const spec = JSON.parse(readFileSync(new URL('../records-openapi.json', import.meta.url), 'utf8')) as OpenApiDoc;
const SPEC_ID = 'https://classwire.test/records-openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true });
// The document itself is the root: its "#/components/..." references resolve inside it.
ajv.addSchema({ ...spec, $id: SPEC_ID });

/**
 * Checks that the records OpenAPI document lists this status for the operation (for a method the path
 * does not serve: its `x-unsupported-method` answer, a 400), and that the body fits its schema (an
 * answer without content has the body '').
 */
export function expectDocumented(method: string, path: string, status: number, body: unknown): void {
  const template = Object.keys(spec.paths).find((candidate) => new RegExp(`^${candidate.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
  expect(template, `${path} is documented`).toBeDefined();
  const operation = spec.paths[template!]![method.toLowerCase()];
  let response: Response | undefined;
  let pointer: string;
  if (operation === undefined) {
    expect(status, `${method} ${template} is not an operation: answered 400`).toBe(400);
    response = spec['x-unsupported-method'];
    pointer = '#/x-unsupported-method';
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
  if (response!.content === undefined) return expect(body).toBe('');
  const validate = ajv.getSchema(`${SPEC_ID}${pointer}/content/application~1json/schema`)!;
  expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
}
