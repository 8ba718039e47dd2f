/**
 * joblib's compress='lz4' (an LZ4 frame around the pickle) and pickles compressed with
 * lz4.frame: read through, so a payload inside is judged like any pickle. Written by the real
 * libraries; the malicious pickle is written byte by byte and never loaded.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { runPython } from '../helpers/python.js';

async function scan(bytes: Uint8Array, name: string) {
  return (await scanBytes(bytes, name)).files[0]!;
}
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);

describe('lz4-compressed pickles', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import joblib, lz4.frame
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X = np.arange(40, dtype=float).reshape(20, 2); y = np.array([0, 1] * 10)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
joblib.dump(model, os.path.join(OUT, 'model.joblib.lz4'), compress='lz4')
joblib.dump({'w': np.ones((300, 300))}, os.path.join(OUT, 'arrays.joblib'), compress=('lz4', 3))
# os.system('echo mg') as a protocol-2 pickle, written byte by byte (never loaded)
payload = b'\\x80\\x02cos\\nsystem\\nq\\x00X\\x07\\x00\\x00\\x00echo mgq\\x01\\x85q\\x02Rq\\x03.'
open(os.path.join(OUT, 'evil.pkl.lz4'), 'wb').write(lz4.frame.compress(payload, content_checksum=True))
`);
  }, 120_000);

  it('joblib compress="lz4" of a fitted sklearn pipeline: read and clean', async () => {
    const b = py.file('model.joblib.lz4');
    expect([...b.subarray(0, 4)]).toEqual([0x04, 0x22, 0x4d, 0x18]);
    const f = await scan(b, 'model.joblib.lz4');
    expect(f.formats).toEqual(['lz4']);
    expect(loud(f.findings)).toEqual([]);
    expect(f.findings.map((x) => x.rule)).not.toContain('FORMAT_UNKNOWN');
  });

  it('joblib lz4 with numpy arrays: clean', async () => {
    const f = await scan(py.file('arrays.joblib'), 'arrays.joblib');
    expect(loud(f.findings)).toEqual([]);
  });

  it('a malicious pickle inside an LZ4 frame: os.system found, inside the <lz4> member', async () => {
    const f = await scan(py.file('evil.pkl.lz4'), 'evil.pkl.lz4');
    const sys = f.findings.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL' && x.evidence.canonical === 'os.system');
    expect(sys?.severity).toBe('critical');
    expect(sys?.evidence.chain).toBe("os.system('echo mg')");
    expect(sys?.location.path).toEqual(['evil.pkl.lz4', '<lz4>']);
  });

  it('a truncated LZ4 frame is a finding, never clean', async () => {
    const b = py.file('model.joblib.lz4');
    const f = await scan(b.subarray(0, b.length >> 1), 'cut.joblib');
    expect(f.findings.map((x) => x.rule)).toContain('ARCHIVE_CORRUPT');
  });
});
