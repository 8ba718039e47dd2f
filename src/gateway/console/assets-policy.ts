/**
 * Styles of the Policy, Exposure and Study pages, served after the console's stylesheet in the
 * same file (/console/assets/console.css). Colours are the console's: text on white at 4.5:1
 * or more, and the header's grey on its dark background.
 */
export const POLICY_CSS = `
textarea{font:inherit;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9rem;width:100%;padding:.4rem;border:1px solid #8c959f;border-radius:4px;color:var(--fg);background:#fff}
textarea:focus-visible,summary:focus-visible{outline:3px solid #0969da;outline-offset:2px}
form.stack{display:flex;flex-direction:column;gap:.7rem;max-width:60rem;margin:.6rem 0 1rem}
form.stack button{align-self:flex-start}
.nav-note{font-size:.8rem;color:#d0d7de}
ul.plain{list-style:none;padding:0;margin:0}ul.plain li+li{margin-top:.2rem}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
td.flip{white-space:nowrap}
tr.off th,tr.off td{color:var(--muted)}
table caption{text-align:left;font-weight:600;padding:.4rem 0}
details{margin:.6rem 0}summary{cursor:pointer;color:var(--link)}
ul.runs{list-style:none;padding:0;margin:0 0 1rem}
li.run{border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;margin-bottom:.6rem}
label.progress{color:var(--fg);font-size:.9rem;margin-top:.4rem}
progress{width:100%;max-width:40rem;height:1rem;accent-color:#1f6feb}
article.exposed{border-left:4px solid var(--block);padding:.1rem 0 .1rem .9rem;margin:1.2rem 0}
article.exposed h3{font-size:1rem;margin:.2rem 0 .4rem}
@media (max-width:40rem){td.flip{white-space:normal}textarea{font-size:.85rem}}
`;
