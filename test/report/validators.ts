/**
 * Schema validation for the report renderers: the official SARIF 2.1.0 schema (vendored under
 * test/schemas/, draft-07) through ajv, and CycloneDX through its own library's strict validator.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default import is the module object for the type checker.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

let sarifValidator: ValidateFunction | null = null;

export function sarifErrors(log: unknown): string[] {
  if (sarifValidator === null) {
    const schema = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'schemas', 'sarif-schema-2.1.0.json'), 'utf8')) as object;
    // The schema's `language` pattern (`...{2}]?$`) is valid only without the u flag, as its authors ran it.
    const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats(ajv);
    sarifValidator = ajv.compile(schema);
  }
  // Round-trip through JSON: the file on disk is what tools read, not our object.
  const ok = sarifValidator(JSON.parse(JSON.stringify(log)));
  return ok ? [] : (sarifValidator.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

const cdx = new Validation.JsonStrictValidator(Spec.Version.v1dot6);

export async function cycloneDxErrors(bom: unknown): Promise<unknown> {
  return cdx.validate(JSON.stringify(bom));
}
