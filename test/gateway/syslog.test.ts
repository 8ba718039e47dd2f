/** Audit records forwarded to a SIEM over syslog (UDP, RFC 5424), besides the durable store. */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './stack.js';

const received: string[] = [];
const server = createSocket('udp4');
let s: Stack;

beforeAll(async () => {
  server.on('message', (m) => received.push(m.toString()));
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  s = await startStack({ config: { auditSyslog: `udp://127.0.0.1:${server.address().port}` } });
}, 60_000);
afterAll(async () => {
  await s?.close();
  server.close();
});

describe('audit to syslog', () => {
  it('a refusal arrives as an RFC 5424 message carrying the JSON audit record', async () => {
    const r = await fetch(`${s.base}/acme/evil-bert/resolve/main/pytorch_model.bin`);
    expect(r.status).toBe(403);
    for (let i = 0; i < 50 && !received.some((m) => m.includes('"verdict":"block"')); i++) await new Promise((res) => setTimeout(res, 20));
    const msg = received.find((m) => m.includes('"verdict":"block"'))!;
    expect(msg).toMatch(/^<132>1 \d{4}-\d\d-\d\dT[\d:.]+Z \S+ modelgate \d+ audit - \{/);
    const rec = JSON.parse(msg.slice(msg.indexOf('{')));
    expect(rec).toMatchObject({ repo: 'acme/evil-bert', path: 'pytorch_model.bin', verdict: 'block' });
    expect(rec.rules[0].rule).toBe('scan-severity');
    expect(typeof rec.id).toBe('number');
  });
});
