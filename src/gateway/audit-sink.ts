/**
 * Audit records go to the store first (durable before the response completes: the caller
 * awaits it), then, best effort, to a webhook for a SIEM. A failing webhook never loses a
 * record: the store has it, and the forwarder retries with backoff, bounded.
 */
import { request } from 'undici';
import type { AuditRecord, Store } from '../store/types.js';
import { SyslogSink } from './syslog.js';

export class AuditSink {
  private queue: AuditRecord[] = [];
  private sending = false;
  forwarded = 0;
  dropped = 0;

  private readonly syslog: SyslogSink | null;

  constructor(
    private readonly store: Store,
    private readonly webhook: string | undefined,
    syslog?: string,
  ) {
    this.syslog = syslog ? new SyslogSink(syslog) : null;
  }

  close(): void {
    this.syslog?.close();
  }

  async record(rec: AuditRecord): Promise<number> {
    const id = await this.store.appendAudit(rec);
    this.forward(rec, id);
    return id;
  }

  /**
   * The best-effort copies (syslog, webhook) of a record the store already holds: for changes
   * written together with their record in one transaction (the waiver workflow, an exposure). The refusal
   * link's hash stays in the store.
   */
  forward(rec: AuditRecord, id: number): void {
    const { ticketHash: _hash, ...out } = rec;
    void _hash;
    this.syslog?.send({ ...out, id });
    if (this.webhook) {
      if (this.queue.length >= 10_000) {
        this.queue.shift();
        this.dropped++;
      }
      this.queue.push({ ...out, id });
      void this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.sending || !this.webhook) return;
    this.sending = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.slice(0, 100);
        let ok = false;
        for (let attempt = 0; attempt < 5 && !ok; attempt++) {
          try {
            const res = await request(this.webhook, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: batch.map((r) => JSON.stringify(r)).join('\n') + '\n' });
            await res.body.dump();
            ok = res.statusCode < 300;
          } catch {
            ok = false;
          }
          if (!ok) await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
        }
        this.queue.splice(0, batch.length);
        if (ok) this.forwarded += batch.length;
        else this.dropped += batch.length;
      }
    } finally {
      this.sending = false;
    }
  }
}
