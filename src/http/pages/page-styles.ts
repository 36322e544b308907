/**
 * The pages' only styles, sent inline and allowed by their hash (see page.ts): one response
 * per page, and no route to serve a file. Colours keep at least 4.5:1 contrast in both
 * schemes; targets are at least 44 px tall for touch.
 */
export const PAGE_STYLES = `
:root {
  color-scheme: light dark;
  --bg: #f3f4f6; --card: #ffffff; --text: #16191d; --muted: #4a5058; --border: #c9ced6;
  --accent: #0b57d0; --on-accent: #ffffff; --error: #a4161a;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #121417; --card: #1c1f24; --text: #e8eaed; --muted: #b4bac2; --border: #3a3f46;
    --accent: #8ab4f8; --on-accent: #0b1a33; --error: #ffb4ab;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
main {
  max-width: 34rem; margin: 3rem auto; padding: 1.5rem 1.75rem 2rem;
  background: var(--card); border: 1px solid var(--border); border-radius: 0.75rem;
}
.brand { margin: 0 0 1.25rem; font-weight: 700; color: var(--muted); letter-spacing: 0.02em; }
h1 { margin: 0 0 1rem; font-size: 1.5rem; line-height: 1.3; overflow-wrap: anywhere; }
p { margin: 0 0 1rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.5rem 1.25rem; margin: 0 0 1.75rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
label { display: block; margin-bottom: 0.375rem; font-weight: 600; }
input {
  display: block; width: 100%; min-height: 2.75rem; margin-bottom: 1.25rem; padding: 0.5rem 0.75rem;
  font: inherit; color: inherit; background: var(--card);
  border: 1px solid var(--muted); border-radius: 0.5rem;
}
.button {
  display: inline-block; min-height: 2.75rem; padding: 0.625rem 1.5rem; border: 0;
  border-radius: 0.5rem; background: var(--accent); color: var(--on-accent);
  font: inherit; font-weight: 600; text-decoration: none; cursor: pointer;
}
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible {
  outline: 3px solid var(--text); outline-offset: 2px;
}
.error { color: var(--error); font-weight: 600; }
@media (max-width: 36rem) {
  main { margin: 0; min-height: 100vh; border: 0; border-radius: 0; padding: 1.25rem 1rem 2rem; }
  .button { display: block; width: 100%; text-align: center; }
}
`
