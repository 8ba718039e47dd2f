/**
 * The key scans are stored under: the same rule as the gateway's engineKeyOf
 * (src/gateway/server.ts), so a file the gateway scanned is not scanned again by the crawler and
 * the other way round. Kept here rather than imported because the queue layer must not load the
 * gateway (fastify and its plugins) to start a worker; test/crawl/engine-key.test.ts pins the two
 * together.
 */
import { createHash } from 'node:crypto';
import type { EngineInfo } from '../scan/report.js';

export function engineKeyOf(info: Pick<EngineInfo, 'version' | 'rulesVersion' | 'analyzers'>): string {
  const h = createHash('sha256').update(JSON.stringify([info.version, info.rulesVersion, Object.entries(info.analyzers).sort()])).digest('hex');
  return `${info.version}+${h.slice(0, 12)}`;
}
