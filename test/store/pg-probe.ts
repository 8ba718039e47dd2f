/**
 * Finds a PostgreSQL server for the store tests, before any suite is declared, so that the
 * suite can be skipped with the reason in its name rather than fail on connection errors.
 * MODELGATE_TEST_PG_URL overrides the candidates; MODELGATE_TEST_PG_REQUIRED=1 (CI) turns a
 * missing server into a failure instead of a skip.
 */
import pg from 'pg';

export type PgProbe = { ok: true; url: string } | { ok: false; reason: string };

const CANDIDATES = ['postgres://postgres@127.0.0.1:5432/test', 'postgres://root@127.0.0.1:5432/test'];

export async function probePostgres(): Promise<PgProbe> {
  const urls = process.env.MODELGATE_TEST_PG_URL ? [process.env.MODELGATE_TEST_PG_URL] : CANDIDATES;
  const reasons: string[] = [];
  for (const url of urls) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return { ok: true, url };
    } catch (e) {
      const err = e as { code?: string; message?: string };
      reasons.push(`${url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')}: ${err.code ?? ''} ${err.message ?? String(e)}`.trim());
    } finally {
      await client.end().catch(() => {});
    }
  }
  return { ok: false, reason: `PostgreSQL not reachable (${reasons.join('; ')})` };
}
