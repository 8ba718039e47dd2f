/**
 * Audit records to a SIEM over syslog (RFC 5424), one JSON record per message, UDP or TCP
 * (octet-counted framing, RFC 6587). Best effort like the webhook: the store already holds every
 * record durably, so a lost datagram loses nothing.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { connect, type Socket } from 'node:net';
import type { AuditRecord } from '../store/types.js';

/** facility local0 (16); severity by verdict: block = warning (4), error = err (3), else info (6). */
function priority(rec: AuditRecord): number {
  const sev = rec.verdict === 'block' ? 4 : rec.verdict === 'error' ? 3 : rec.verdict === 'warn' ? 5 : 6;
  return 16 * 8 + sev;
}

export function formatSyslog(rec: AuditRecord, host = hostname()): string {
  const h = host.replace(/[^\x21-\x7e]/g, '') || '-';
  return `<${priority(rec)}>1 ${rec.time} ${h} modelgate ${process.pid} audit - ${JSON.stringify(rec)}`;
}

export class SyslogSink {
  private udp: UdpSocket | null = null;
  private tcp: Socket | null = null;
  private readonly url: URL;
  sent = 0;
  failed = 0;

  constructor(target: string) {
    this.url = new URL(target);
    if (this.url.protocol !== 'udp:' && this.url.protocol !== 'tcp:') throw new Error(`audit syslog target must be udp://host:port or tcp://host:port, got ${target}`);
  }

  send(rec: AuditRecord): void {
    const msg = Buffer.from(formatSyslog(rec));
    const port = Number(this.url.port || 514);
    const host = this.url.hostname.replace(/^\[|\]$/g, '');
    if (this.url.protocol === 'udp:') {
      this.udp ??= createSocket(host.includes(':') ? 'udp6' : 'udp4');
      this.udp.send(msg, port, host, (err) => (err ? this.failed++ : this.sent++));
      return;
    }
    if (!this.tcp || this.tcp.destroyed) {
      this.tcp = connect(port, host);
      this.tcp.on('error', () => {
        this.failed++;
        this.tcp?.destroy();
      });
    }
    this.tcp.write(`${msg.length} ${msg.toString()}`, (err) => (err ? this.failed++ : this.sent++));
  }

  close(): void {
    this.udp?.close();
    this.tcp?.end();
  }
}
