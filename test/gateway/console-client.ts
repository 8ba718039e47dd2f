/** The console tests' HTTP client. */

/** A browser-like client: keeps cookies, never follows redirects. */
export class Client {
  jar = new Map<string, string>();
  constructor(readonly base: string) {}
  async req(path: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<{ res: Response; text: string }> {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (this.jar.size) headers['cookie'] = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(this.base + path, { method: init.method ?? 'GET', headers, redirect: 'manual', ...(body !== undefined ? { body } : {}) });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const k = pair!.slice(0, i);
      const v = pair!.slice(i + 1);
      if (v === '' || /Max-Age=0\b/.test(c)) this.jar.delete(k);
      else this.jar.set(k, v);
    }
    return { res, text: await res.text() };
  }
  async login(token: string): Promise<Response> {
    const { text } = await this.req('/console/login');
    const csrf = /name="csrf" value="([^"]+)"/.exec(text)![1]!;
    return (await this.req('/console/login', { method: 'POST', form: { csrf, token } })).res;
  }
  async csrf(): Promise<string> {
    const { text } = await this.req('/console');
    return /action="\/console\/logout"><input type="hidden" name="csrf" value="([^"]+)"/.exec(text)![1]!;
  }
}
