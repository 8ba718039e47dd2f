/**
 * OmegaConf resolves `${...}` in a Hydra `_target_` before Hydra imports it: the target is what
 * the interpolation yields, not the text written. Node references are followed; a resolver the
 * scanner cannot evaluate leaves the target unknown (high).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanBytes } from '../../src/index.js';
import { FIXTURES } from '../helpers/manifest.js';

const targets = async (text: string, name = 'config.yaml') =>
  (await scanBytes(new TextEncoder().encode(text), name)).files[0]!.findings
    .filter((x) => x.rule === 'HYDRA_UNSAFE_TARGET')
    .map((x) => [x.evidence.details!['target'], x.severity]);

describe('Hydra _target_ through interpolation', () => {
  it('an absolute reference to a node holding os.system is os.system, critical (was low)', async () => {
    const f = (await scanBytes(new Uint8Array(readFileSync(join(FIXTURES, 'malicious/hydra_target_interpolation.yaml'))), 'config.yaml')).files[0]!;
    const hit = f.findings.find((x) => x.rule === 'HYDRA_UNSAFE_TARGET');
    expect(hit?.severity).toBe('critical');
    expect(hit?.evidence.details).toMatchObject({ key: 'model.hook._target_ (${model.impl})', target: 'os.system' });
  });

  it('relative, indexed, nested and concatenated references, and oc.select, are followed', async () => {
    expect(await targets('a:\n  impl: subprocess.run\n  _target_: ${.impl}\n')).toEqual([['subprocess.run', 'critical']]);
    expect(await targets('a:\n  b:\n    _target_: ${..m}.${..n}\n  m: os\n  n: system\n')).toEqual([['os.system', 'critical']]);
    expect(await targets('names: [torch.nn.Linear, builtins.exec]\nwhich: 1\nx:\n  _target_: ${names[${which}]}\n')).toEqual([['builtins.exec', 'critical']]);
    expect(await targets('x:\n  _target_: ${oc.select:missing,os.system}\n')).toEqual([['os.system', 'critical']]);
    // A chain of references: the referenced node is itself an interpolation.
    expect(await targets('p: ${q}\nq: os.popen\nx:\n  _target_: ${p}\n')).toEqual([['os.popen', 'critical']]);
  });

  it('a reference to an allowed target stays quiet; a resolver the scanner cannot evaluate is high', async () => {
    expect(await targets('opt: torch.optim.AdamW\nx:\n  _target_: ${opt}\n  lr: 0.1\n')).toEqual([]);
    expect(await targets("x:\n  _target_: ${oc.decode:'\"o\"'}s.system\n")).toEqual([["${oc.decode:'\"o\"'}s.system", 'high']]);
    expect(await targets('x:\n  _target_: ${oc.env:MODEL_CLASS}\n')).toEqual([['${oc.env:MODEL_CLASS}', 'high']]);
    expect(await targets('x:\n  _target_: ${nowhere.to_be_found}\n')).toEqual([['${nowhere.to_be_found}', 'high']]);
  });
});
