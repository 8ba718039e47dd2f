/**
 * The console's only stylesheet, served by the gateway itself (no CDN, works offline). The page
 * CSP allows styles from 'self' only, so nothing in the markup uses style attributes.
 */
export const CONSOLE_CSS = `
:root{--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--bg:#fff;--band:#f6f8fa;--link:#0550ae;
--allow:#1a7f37;--warn:#9a6700;--block:#cf222e;--error:#6e7781}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid #0969da;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.4rem;z-index:2}
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;justify-content:space-between;padding:.6rem 1.2rem;background:#24292f;color:#fff}
header nav{display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
header a{color:#fff;text-decoration:none;padding:.2rem .1rem}header a[aria-current=page]{border-bottom:3px solid #fff}
.brand{font-weight:700;margin-right:.5rem}
.who{display:flex;gap:.8rem;align-items:center}.who form{margin:0}
main{max-width:80rem;margin:0 auto;padding:1rem 1.2rem 3rem}
h1{font-size:1.5rem;margin:.6rem 0 1rem}h2{font-size:1.15rem;margin:1.6rem 0 .6rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:1rem 2rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid var(--line)}
th{background:var(--band);font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}
td.time{white-space:nowrap}
.muted{color:var(--muted)}
.verdict{display:inline-block;min-width:3.6rem;text-align:center;border-radius:3px;padding:0 .4rem;color:#fff;font-size:.85rem;font-weight:600}
.v-allow{background:var(--allow)}.v-warn{background:var(--warn)}.v-block{background:var(--block)}.v-error{background:var(--error)}
.ok{color:var(--allow);font-weight:600}.bad{color:var(--block);font-weight:600}
.chart{max-width:100%;height:auto}
.legend{display:flex;gap:1rem;flex-wrap:wrap;margin:.3rem 0;list-style:none;padding:0}
.legend li::before{content:"";display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
.legend .l-allow::before{background:var(--allow)}.legend .l-warn::before{background:var(--warn)}.legend .l-block::before{background:var(--block)}.legend .l-error::before{background:var(--error)}
form.filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.6rem 1rem;align-items:end;background:var(--band);padding:.8rem;border:1px solid var(--line);border-radius:6px}
label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted);gap:.15rem}
input,select,button{font:inherit;padding:.3rem .45rem;border:1px solid #8c959f;border-radius:4px;background:#fff;color:var(--fg)}
button{background:#1f6feb;color:#fff;border-color:#1f6feb;cursor:pointer}
header button{background:transparent;border-color:#fff}
.pager{display:flex;gap:1.2rem;margin:.8rem 0;flex-wrap:wrap}
.error-box{border:1px solid var(--block);background:#ffebe9;padding:.6rem .8rem;border-radius:6px}
.login{max-width:26rem;margin:3rem auto}.login form{display:flex;flex-direction:column;gap:.8rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.doc{white-space:pre-wrap;word-break:break-word;background:var(--band);padding:1rem;border:1px solid var(--line);border-radius:6px}
.chain{background:var(--band);padding:.2rem .4rem;margin-top:.3rem;display:block}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
h3{font-size:1rem;margin:.4rem 0}
.notice{border:1px solid var(--allow);background:#dafbe1;padding:.6rem .8rem;border-radius:6px}
.state{display:inline-block;border-radius:3px;padding:0 .4rem;font-size:.85rem;font-weight:600;border:1px solid currentColor}
.s-pending{background:#fff8c5;color:#4d2d00}.s-approved{background:#dafbe1;color:#116329}.s-rejected,.s-revoked{background:#ffebe9;color:#a40e26}.s-expired{background:#eaeef2;color:#424a53}
form.stack{display:flex;flex-direction:column;gap:.7rem;max-width:42rem;background:var(--band);padding:.8rem;border:1px solid var(--line);border-radius:6px}
form.stack button{align-self:flex-start}
form.inline{display:inline;margin:0}
textarea{font:inherit;padding:.3rem .45rem;border:1px solid #8c959f;border-radius:4px;color:var(--fg);background:#fff;resize:vertical}
textarea:focus-visible,input[type=radio]:focus-visible{outline:3px solid #0969da;outline-offset:2px}
fieldset{border:1px solid var(--line);border-radius:4px;padding:.4rem .7rem;margin:0}legend{color:var(--muted);font-size:.85rem}
label.choice{flex-direction:row;gap:.5rem;align-items:baseline;color:var(--fg);font-size:1rem;padding:.15rem 0}
button.danger{background:#fff;color:#a40e26;border-color:#a40e26}
.actions{display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
ul.plain{list-style:none;margin:0;padding:0}
.prose{white-space:pre-wrap;overflow-wrap:anywhere}
form.filters.one{grid-template-columns:minmax(11rem,32rem) max-content;justify-content:start;margin-bottom:.8rem}
@media (max-width:40rem){main{padding:.6rem}.hide-narrow{display:none}
table.records,.records tbody,.records tr,.records td{display:block}.records thead{display:none}
.records tr{padding:.4rem 0;border-bottom:1px solid var(--line)}.records td{border:0;padding:.1rem .2rem}
.records td.time{display:inline-block}.records td.time+td{display:inline-block}
.records td.hide-narrow{display:none}.records caption{display:block;text-align:left}
.records td[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}}
`;

/** A favicon of our own, so the browser's automatic /favicon.ico request is not a 404 in the console. */
export const FAVICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#24292f"/><path d="M4 8l3 3 5-6" stroke="#fff" stroke-width="2" fill="none"/></svg>';
