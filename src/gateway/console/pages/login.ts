/** The login form: an admin token, posted with the login double-submit token. */
import { esc, page } from '../html.js';

export function loginPage(csrf: string, error?: string): string {
  return page(
    { title: 'Log in', nav: 'login' },
    `<div class="login"><h1>modelgate console</h1>
${error ? `<p class="error-box" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/console/login">
<input type="hidden" name="csrf" value="${esc(csrf)}">
<label for="token">Admin token<input id="token" name="token" type="password" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button>
</form>
<p class="muted">Use an admin token (<code>mg_…</code>) from <code>MODELGATE_ADMIN_TOKEN</code> or <code>POST /admin/tokens</code>. The session lasts at most 8 hours and ends after an hour without use.</p></div>`,
  );
}
