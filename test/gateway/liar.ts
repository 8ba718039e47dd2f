/**
 * A lying upstream for the fault-and-attack tests: an HTTP proxy in front of the real local hub
 * that forwards every request unchanged unless a test's handler answers it instead. Handlers
 * write the raw response themselves, so they can lie in any way a hostile or broken hub could
 * (wrong sizes, foreign links, odd statuses, bodies that drip), while everything else the
 * gateway asks is answered by the real hub.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** Returns true when it answered the request itself. */
export type LiarHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface Liar {
  url: string;
  /** Where requests no handler answers go (the real hub); set once it is started. */
  target: string;
  requests: SeenRequest[];
  handlers: LiarHandler[];
  /** Requests whose method is `method` and whose URL contains `fragment`. */
  seen(method: string, fragment: string): SeenRequest[];
  close(): Promise<void>;
}

export async function startLiar(): Promise<Liar> {
  const liar: Liar = {
    url: '',
    target: '',
    requests: [],
    handlers: [],
    seen(method, fragment) {
      return this.requests.filter((r) => r.method === method && r.url.includes(fragment));
    },
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    void (async () => {
      liar.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      for (const h of liar.handlers) if (await h(req, res)) return;
      const t = new URL(liar.target);
      const up = httpRequest(
        { host: t.hostname, port: t.port, path: req.url, method: req.method, headers: { ...req.headers, host: new URL(liar.url).host } },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  liar.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  liar.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return liar;
}

/** The path of a request without its query. */
export function pathOf(req: IncomingMessage): string {
  return (req.url ?? '').split('?')[0]!;
}
