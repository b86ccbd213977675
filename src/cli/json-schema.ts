/** `edgeway schema`: the JSON Schema editors use for route files, generated from the zod contract. */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { Resource } from '../schema/snapshot.js';
import { formatJson, writeAtomic } from './build.js';

export const SCHEMA_FILE = 'schema/edgeway.schema.json';

export function generateJsonSchema(): Record<string, unknown> {
  // draft-07 because yaml-language-server (VS Code, JetBrains, Neovim) supports it best.
  const generated = z.toJSONSchema(Resource, { io: 'input', target: 'draft-7' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: 'https://edgeway.dev/schema/edgeway.schema.json',
    title: 'Edgeway resource',
    description:
      'One Edgeway resource: a Gateway API HTTPRoute (gateway.networking.k8s.io/v1), an Edgeway Backend, RateLimitPolicy or SecurityPolicy (edgeway.dev/v1alpha1). Generated from src/schema.ts by `npm run schema`; do not edit.',
    ...rest,
  };
}

export const renderJsonSchema = () => formatJson(generateJsonSchema(), SCHEMA_FILE);

/** Returns whether the file on disk matches what the schema generates (check) or writes it (otherwise). */
export async function syncJsonSchema(file: string, check: boolean): Promise<{ upToDate: boolean; written: boolean }> {
  const text = await formatJson(generateJsonSchema(), file);
  let current: string | undefined;
  try {
    current = await readFile(file, 'utf8');
  } catch {
    current = undefined;
  }
  const upToDate = current === text;
  if (check || upToDate) return { upToDate, written: false };
  await writeAtomic(file, text);
  return { upToDate, written: true };
}
