import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'vitest';

interface OpenApiDoc {
  paths: Record<string, Record<string, { responses?: Record<string, { $ref?: string; content?: Record<string, { schema: object }> }> }>>;
}

const spec = JSON.parse(readFileSync(new URL('../records-openapi.json', import.meta.url), 'utf8')) as OpenApiDoc;
const SPEC_ID = 'https://classwire.test/records-openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ ...spec, $id: SPEC_ID });

/** Checks that the records OpenAPI document lists this status for the operation, and that the body fits its schema. */
export function expectDocumented(method: string, path: string, status: number, body: unknown): void {
  const template = Object.keys(spec.paths).find((candidate) => new RegExp(`^${candidate.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
  expect(template, `${path} is documented`).toBeDefined();
  const response = spec.paths[template!]![method.toLowerCase()]?.responses?.[String(status)];
  expect(response, `${method} ${template} documents ${status}`).toBeDefined();
  const schemaRef =
    response!.$ref !== undefined
      ? `#/components/responses/${response!.$ref.split('/').pop()!}/content/application~1json/schema`
      : `#/paths/${template!.replaceAll('~', '~0').replaceAll('/', '~1')}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`;
  const validate = ajv.getSchema(`${SPEC_ID}${schemaRef}`)!;
  expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
}
