/**
 * The client-vulnerable rule on real scan reports of the fixture corpus, with the library
 * versions a huggingface_hub client declares in User-Agent (parsed as the gateway parses them).
 */
import { describe, expect, it } from 'vitest';
import { defaultPolicy, parsePolicy } from '../../src/policy/index.js';
import { parseClientUserAgent } from '../../src/rules/client-agent.js';
import { BENIGN_TORCH, SAFETENSORS, file, input } from './helpers.js';

const KERAS = 'benign/keras_sequential.keras';
const KERAS_H5 = 'benign/keras_sequential.h5';
const policy = (yaml: string) => parsePolicy(yaml, 'policy.yaml');
const ON = policy('rules:\n  client-vulnerable: {action: block}\n');
const client = (ua: string) => ({ libraries: parseClientUserAgent(ua).libraries, userAgent: ua });
const OLD_TORCH = 'transformers/4.51.0; hf_hub/0.30.2; python/3.11.7; torch/2.5.1+cpu; session_id/0123abcd; file_type/model';
const reasons = (d: { outcomes: Array<{ rule: string; action: string; reason: string }> }) => d.outcomes.map((o) => `${o.action} ${o.rule}: ${o.reason}`);

describe('client-vulnerable', () => {
  it('refuses a PyTorch zip checkpoint to a torch with the weights_only bypass, naming the CVE, the version and the fix', async () => {
    const d = ON.evaluate(input(await file(BENIGN_TORCH, 'pytorch_model.bin'), { client: client(OLD_TORCH) }));
    expect(d.verdict).toBe('block');
    expect(reasons(d)).toEqual([
      'block client-vulnerable: pytorch_model.bin: your torch 2.5.1+cpu is affected by CVE-2025-32434 (weights_only bypass) and 1 more; upgrade to 2.10.0 or later (critical, rule client-vulnerable)',
    ]);
  });

  it('serves safetensors to the same client', async () => {
    const d = ON.evaluate(input(await file(SAFETENSORS, 'model.safetensors'), { client: client(OLD_TORCH) }));
    expect(d.verdict).toBe('allow');
    expect(d.outcomes).toEqual([]);
  });

  it('names only the entries a torch between the two fixes is affected by', async () => {
    const d = ON.evaluate(input(await file(BENIGN_TORCH, 'pytorch_model.bin'), { client: client('hf_hub/0.30.2; torch/2.7.0') }));
    expect(reasons(d)).toEqual(['block client-vulnerable: pytorch_model.bin: your torch 2.7.0 is affected by CVE-2026-24747 (weights_only bypass); upgrade to 2.10.0 or later (high, rule client-vulnerable)']);
  });

  it('serves the checkpoint to a fixed torch', async () => {
    const d = ON.evaluate(input(await file(BENIGN_TORCH, 'pytorch_model.bin'), { client: client('hf_hub/1.33.0; python/3.11.7; torch/2.10.0') }));
    expect(d.verdict).toBe('allow');
  });

  it('refuses a .keras archive to a Keras with a safe_mode bypass; the advice is a version no entry affects', async () => {
    const d = ON.evaluate(input(await file(KERAS, 'model.keras'), { client: client('hf_hub/0.30.2; keras/3.8.0; torch/2.5.1') }));
    // 3.13.2 fixes CVE-2026-1462 but is inside CVE-2026-12480's range: the first clear release is 3.14.1.
    expect(reasons(d)).toEqual(['block client-vulnerable: model.keras: your keras 3.8.0 is affected by CVE-2025-1550 (safe_mode bypass) and 7 more; upgrade to 3.14.1 or later (critical, rule client-vulnerable)']);
  });

  it('does not judge a PyTorch checkpoint by the Keras entries (a pytorch-zip is not a Keras archive)', async () => {
    const d = ON.evaluate(input(await file(BENIGN_TORCH, 'pytorch_model.bin'), { client: client('hf_hub/0.30.2; keras/3.8.0; torch/2.10.0') }));
    expect(d.verdict).toBe('allow');
  });

  it('min-severity leaves lower entries alone', async () => {
    const p = policy('rules:\n  client-vulnerable: {action: block, min-severity: critical}\n');
    const f = await file(BENIGN_TORCH, 'pytorch_model.bin');
    expect(p.evaluate(input(f, { client: client('torch/2.7.0') })).verdict).toBe('allow');
    expect(reasons(p.evaluate(input(f, { client: client('torch/2.5.1') })))).toEqual([
      'block client-vulnerable: pytorch_model.bin: your torch 2.5.1 is affected by CVE-2025-32434 (weights_only bypass); upgrade to 2.6.0 or later (critical, rule client-vulnerable)',
    ]);
  });

  it('unknown: allows by default a client that names no version of the loaders (curl, browsers), and applies `unknown` when set', async () => {
    const f = await file(BENIGN_TORCH, 'pytorch_model.bin');
    expect(ON.evaluate(input(f, { client: client('curl/8.5.0') })).verdict).toBe('allow');
    expect(ON.evaluate(input(f)).verdict).toBe('allow');
    const strict = policy('rules:\n  client-vulnerable: {action: block, unknown: warn}\n');
    const noTorch = 'unknown/None; hf_hub/1.33.0; python/3.11.7';
    for (const c of [client('curl/8.5.0'), client('Mozilla/5.0 (X11; Linux x86_64)'), client('node'), client(noTorch), undefined]) {
      const d = strict.evaluate(input(f, c ? { client: c } : {}));
      expect(reasons(d)).toEqual(['warn client-vulnerable: pytorch_model.bin: the client declared no version of torch, so whether its loader is vulnerable is unknown (unknown client, rule client-vulnerable)']);
    }
    // A file the catalogue has no entry for is not "unknown".
    expect(strict.evaluate(input(await file(SAFETENSORS, 'model.safetensors'))).verdict).toBe('allow');
  });

  it('is off by default and as warn only warns', async () => {
    const f = await file(KERAS_H5, 'model.h5');
    expect(defaultPolicy().evaluate(input(f, { client: client('keras/2.12.0') })).outcomes.filter((o) => o.rule === 'client-vulnerable')).toEqual([]);
    const d = policy('rules:\n  client-vulnerable: {action: warn}\n').evaluate(input(f, { client: client('keras/2.12.0') }));
    expect(reasons(d)).toEqual(['warn client-vulnerable: model.h5: your keras 2.12.0 is affected by CVE-2024-3660 (safe_mode bypass) and 2 more; upgrade to 3.14.1 or later (critical, rule client-vulnerable)']);
  });

  it('keeps a hostile User-Agent out of the reason: one ASCII line, bounded', async () => {
    const f = await file(BENIGN_TORCH, `${'x'.repeat(400)}\npytorch_model.bin`);
    const d = ON.evaluate(input(f, { client: { libraries: { torch: '2.5.1' } } }));
    const reason = d.outcomes[0]!.reason;
    expect(reason).toMatch(/^[\x20-\x7e]+$/);
    expect(reason.length).toBeLessThan(400);
  });

  it('a waiver for the rule cancels it', async () => {
    const d = ON.evaluate(
      input(await file(BENIGN_TORCH, 'pytorch_model.bin'), {
        client: client(OLD_TORCH),
        waivers: [{ id: 'w1', repo: 'acme/model', sha256: null, rule: 'client-vulnerable', reason: 'pinned env', author: 'sec', createdAt: '2025-06-01T00:00:00Z', expiresAt: '2025-07-01T00:00:00Z', revokedAt: null }],
      }),
    );
    expect(d.verdict).toBe('allow');
    expect(d.waived.map((w) => w.rule)).toEqual(['client-vulnerable']);
  });
});
