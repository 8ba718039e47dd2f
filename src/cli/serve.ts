/** `modelgate serve`: the gateway, configured by flags > environment > YAML file > defaults. */
import type { Command } from 'commander';
import type { GatewayConfig } from '../gateway/config.js';

export class ServeUsageError extends Error {}

interface ServeFlags {
  config?: string;
  host?: string;
  port?: string;
  upstream?: string;
  dataDir?: string;
  policy?: string;
  store?: string;
  blobStore?: string;
  scanWorkers?: string;
  redis?: string;
  publicUrl?: string;
  logLevel?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the scanning gateway: a Hugging Face Hub-compatible proxy that scans every file before serving it')
    .option('-c, --config <file>', 'YAML configuration file (also MODELGATE_CONFIG)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('-p, --port <port>', 'port to listen on (default 8080)')
    .option('--upstream <url>', 'upstream hub (default https://huggingface.co)')
    .option('--data-dir <dir>', 'where the cache and the embedded database live (default ./modelgate-data)')
    .option('--policy <file>', 'policy YAML (default: block high and above and unscannable files, warn on medium)')
    .option('--store <url>', 'database: a SQLite path or postgres://... (default <data-dir>/modelgate.db)')
    .option('--blob-store <url>', 'blobs: a directory (shared by replicas) or s3://bucket/prefix?endpoint=URL (default <data-dir>/cache)')
    .option('--scan-workers <n>', 'scan worker threads (default 2)')
    .option('--redis <url>', 'Redis for single flight across replicas sharing --store and --data-dir')
    .option('--public-url <url>', 'URL clients use to reach the gateway (for links in refusals)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .action(async (flags: ServeFlags) => {
      // Loaded on demand, as everything below: other commands never load the gateway's modules.
      const { ConfigError, loadGatewayConfig } = await import('../gateway/config.js');
      let cfg: GatewayConfig;
      try {
        cfg = loadGatewayConfig({
          ...(flags.config ? { file: flags.config } : {}),
          flags: {
            host: flags.host,
            port: flags.port,
            upstream: flags.upstream,
            dataDir: flags.dataDir,
            policy: flags.policy,
            store: flags.store,
            blobStore: flags.blobStore,
            scanWorkers: flags.scanWorkers,
            redis: flags.redis,
            publicUrl: flags.publicUrl,
            logLevel: flags.logLevel,
          },
        });
      } catch (e) {
        if (e instanceof ConfigError) throw new ServeUsageError(e.message);
        throw e;
      }
      const { createGateway, BlobStoreStartError, ListenError } = await import('../gateway/server.js');
      const { PolicyError } = await import('../policy/index.js');
      const { reloadPolicy } = await import('../gateway/policy-reload.js');
      const { StoreError } = await import('../store/errors.js');
      const { redactStoreUrl } = await import('../store/open.js');
      let gw;
      try {
        gw = await createGateway(cfg);
      } catch (e) {
        // A bad policy file or store URL is the user's input: one line, exit 2.
        if (e instanceof PolicyError) throw new ServeUsageError(e.message);
        if (e instanceof BlobStoreStartError && (e.cause.kind === 'invalid' || e.cause.kind === 'unavailable')) throw new ServeUsageError(e.message);
        if (e instanceof StoreError && (e.kind === 'invalid' || e.kind === 'unavailable' || e.kind === 'corrupt')) throw new ServeUsageError(redactStoreUrl(cfg.store ?? '', `store ${cfg.store}: ${e.message}`));
        // Anything else still goes to stderr: never with a store password in it.
        if (e instanceof Error) e.message = redactStoreUrl(cfg.store ?? '', redactStoreUrl(cfg.blobStore ?? '', e.message));
        throw e;
      }
      let base: string;
      try {
        base = await gw.listen();
      } catch (e) {
        // Release the store, workers and timers, or the process would never exit.
        await gw.close().catch(() => undefined);
        if (e instanceof ListenError) throw new ServeUsageError(e.message);
        throw e;
      }
      process.stderr.write(
        [
          `modelgate gateway listening on ${base} (upstream ${cfg.upstream}, data in ${cfg.dataDir})`,
          `Point clients at it:`,
          `  export HF_ENDPOINT=${base}        # huggingface_hub, transformers, datasets`,
          `  hubUrl: '${base}'                 # @huggingface/hub`,
          `Every file is scanned before it is served; refusals explain themselves. Ctrl-C stops.`,
          '',
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.stderr.write('modelgate: shutting down\n');
          gw.close().then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        // SIGHUP re-reads the policy file, as daemons re-read their configuration.
        process.on('SIGHUP', () => {
          void reloadPolicy(gw.ctx, { name: 'signal:SIGHUP', group: 'admin', requestId: 'sighup' }).then(
            (r) => process.stderr.write(r.ok ? `modelgate: policy reloaded (version ${r.version})\n` : `modelgate: policy not reloaded, version ${r.version} stays in force: ${r.error}\n`),
            (e: unknown) => process.stderr.write(`modelgate: policy reload could not be audited, nothing changed: ${(e as Error).message}\n`),
          );
        });
      });
    });
}
