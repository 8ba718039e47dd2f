/** `modelgate hub` as a command: usage errors, and a real process serving until SIGTERM. */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { fetch } from 'undici';
import { main } from '../../src/cli/main.js';
import { makeHubDir } from './helpers.js';

const dir = makeHubDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('modelgate hub', () => {
  it('usage errors are one line and exit 2', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['hub'])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toContain('--dir');
      expect(await main(['hub', '--dir', '/nonexistent/mg-hub'])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toMatch(/^modelgate: --dir \/nonexistent\/mg-hub: no such directory\n$/);
      expect(await main(['hub', '--dir', dir, '--page-size', '0'])).toBe(2);
      expect(await main(['hub', '--dir', dir, '--faults', '/nonexistent.json'])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toContain('cannot read --faults');
    } finally {
      err.mockRestore();
      process.exitCode = undefined;
    }
  });

  it('serves until SIGTERM, then exits 0', async () => {
    const tsx = resolve(import.meta.dirname, '../../node_modules/.bin/tsx');
    const entry = `import { main } from ${JSON.stringify(resolve(import.meta.dirname, '../../src/cli/main.ts'))}; process.exitCode = await main(process.argv.slice(1));`; // with -e, argv[1] is the first argument
    const child = spawn(tsx, ['--input-type=module', '-e', entry, 'hub', '--dir', dir, '--port', '0', '--no-warm'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const url = await new Promise<string>((res, rej) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /at (http:\/\/[^\s]+)/.exec(stderr);
        if (m) res(m[1]!);
      });
      child.on('exit', (code) => rej(new Error(`exited ${code}: ${stderr}`)));
    });
    expect(stderr).toContain('HF_ENDPOINT=');
    const r = await fetch(`${url}/api/models/acme/clean`);
    expect(r.status).toBe(200);
    const code = await new Promise<number | null>((res) => {
      child.on('exit', (c) => res(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});
