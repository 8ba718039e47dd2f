/**
 * `modelgate hub` once its flags are parsed: check them, then serve until interrupted. Apart from
 * the command's definition (cli.ts) so that other commands never load the server.
 */
import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { RepoAccessListSchema, type RepoAccess } from './access.js';
import { HubUsageError, type HubFlags } from './cli.js';
import { parseFaultRules, type FaultRule } from './faults.js';
import { createHubServer, listenHub } from './server.js';

async function readJsonFlag(flag: string, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new HubUsageError(`cannot read ${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HubUsageError(`${flag} ${path} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function loadAccess(path: string): Promise<RepoAccess[]> {
  const r = RepoAccessListSchema.safeParse(await readJsonFlag('--access', path));
  if (!r.success) throw new HubUsageError(`--access ${path}: ${z.prettifyError(r.error).replace(/\s+/g, ' ')}`);
  return r.data;
}

async function loadFaults(path: string): Promise<FaultRule[]> {
  const raw = await readJsonFlag('--faults', path);
  const rules = parseFaultRules(raw);
  if (!rules.ok) throw new HubUsageError(`--faults ${path}: ${rules.message}`);
  return rules.value;
}

/** Runs the server; resolves once it has shut down after SIGINT or SIGTERM. */
export async function runHub(flags: HubFlags, out: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    if (!(await stat(flags.dir)).isDirectory()) throw new HubUsageError(`--dir ${flags.dir} is not a directory`);
  } catch (e) {
    if (e instanceof HubUsageError) throw e;
    throw new HubUsageError(`--dir ${flags.dir}: no such directory`);
  }
  const faults = flags.faults !== undefined ? await loadFaults(flags.faults) : [];
  const access = flags.access !== undefined ? await loadAccess(flags.access) : [];
  const app = createHubServer({
    dir: flags.dir,
    pageSize: flags.pageSize,
    latencyMs: flags.latencyMs,
    ...(flags.rateMbit !== undefined ? { bytesPerSecond: (flags.rateMbit * 1e6) / 8 } : {}),
    faults,
    access,
    control: flags.control,
    lfsRedirect: flags.lfsRedirect,
    ...(flags.publicUrl !== undefined ? { publicUrl: flags.publicUrl } : {}),
    warm: flags.warm,
  });
  const url = await listenHub(app, { port: flags.port, host: flags.host });
  // One write: whoever reads the banner for the URL gets all of it at once.
  const banner = [
    `modelgate hub: serving ${flags.dir} (read-only) at ${url}`,
    `  Python: HF_ENDPOINT=${url} python -c "from huggingface_hub import snapshot_download; print(snapshot_download('org/name'))"`,
    `  JS:     downloadFile({ repo: 'org/name', path: 'config.json', hubUrl: '${url}' })`,
    ...(flags.control ? [`  control: ${url}/-/hub/faults, ${url}/-/hub/requests`] : []),
    ...(faults.length > 0 ? [`  ${faults.length} fault rule(s) active`] : []),
  ];
  out.write(banner.join('\n') + '\n');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void app.close().then(() => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
