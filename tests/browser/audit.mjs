// Runs the graphql-http audit (the GraphQL-over-HTTP specification's own test list, from the
// reference implementation) against a running Keel. Every MUST must pass; SHOULDs and MAYs
// that do not are listed so they are seen.
//
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}

const results = await auditServer({ url });
let failedMust = 0;
let counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] += 1;
  if (result.status === 'ok') continue;
  if (result.status === 'error') failedMust += 1;
  let detail = result.reason;
  if (result.response) {
    const body = await result.response.text().catch(() => '');
    detail += ` (status ${result.response.status}, body ${body.slice(0, 200)})`;
  }
  console.log(`${result.status.toUpperCase()}: ${result.name}: ${detail}`);
}
console.log(`graphql-http audit: ${results.length} audits, ${counts.ok} ok, ${counts.error} MUST failed, ${counts.warn} SHOULD not met, ${counts.notice} MAY not met`);
process.exit(failedMust === 0 ? 0 : 1);
