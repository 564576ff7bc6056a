// Generates the barkd client from barkd's own OpenAPI document into gen/ (gitignored):
// @hey-api/openapi-ts's fetch client and SDK, with zod schemas of every model that validate each
// request before it is sent and each JSON answer as it arrives (required fields, types, enums,
// date-times). Run by crates/boltd/tests/barkd_client.rs before the driver:
//   node generate.mjs [path/to/barkd-openapi.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createClient } from '@hey-api/openapi-ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const input = process.argv[2] ?? `${here}../reference/barkd-openapi-0.8.0.json`;

await createClient({
  input,
  output: { path: `${here}gen` },
  logs: { level: 'silent' },
  plugins: ['@hey-api/client-fetch', 'zod', { name: '@hey-api/sdk', validator: true }],
});

// The generator turns int64 into `z.coerce.bigint()`, which would take "123" (a string) for a
// number. barkd's amounts are JSON numbers: validate them as integers, strictly.
const zodFile = `${here}gen/zod.gen.ts`;
const src = readFileSync(zodFile, 'utf8');
const strict = src.replaceAll('z.coerce.bigint()', 'z.int()').replace(/BigInt\((['"]?-?\d+['"]?)\)/g, 'Number($1)');
if (!src.includes('z.coerce.bigint()') || strict.includes('bigint')) {
  throw new Error('generate.mjs: the generated zod schemas changed shape; review the int64 rewrite');
}
writeFileSync(zodFile, strict);
console.log(`generated the barkd client from ${input}`);
