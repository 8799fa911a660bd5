// Runs graphql-http's server audits (the GraphQL-over-HTTP spec's
// conformance suite) against GRAPHQL_URL and exits non-zero on any error or
// warning. Run by scripts/graphql-http-audit.sh, which installs the pinned
// graphql-http next to a copy of this file.
import { serverAudits } from 'graphql-http';

const url = process.env.GRAPHQL_URL;
if (!url) {
  console.error('GRAPHQL_URL is required');
  process.exit(2);
}

const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, signal: AbortSignal.timeout(10_000) });

const counts = { ok: 0, warn: 0, error: 0 };
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  counts[result.status]++;
  let line = `${result.status.toUpperCase().padEnd(5)} ${result.id} ${result.name}`;
  if (result.status !== 'ok') {
    line += `\n      ${result.reason}`;
    if (result.response) {
      const body = await result.response.text().catch(() => '');
      line += `\n      -> ${result.response.status} ${result.response.headers.get('content-type') ?? ''} ${body.slice(0, 300)}`;
    }
  }
  console.log(line);
}
console.log(`\ngraphql-http serverAudits: ${counts.ok} ok, ${counts.warn} warnings, ${counts.error} errors`);
process.exit(counts.warn + counts.error === 0 ? 0 : 1);
