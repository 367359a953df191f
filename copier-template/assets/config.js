// App script, bundled by esbuild into assets/statics/js/bundle.js.
// The framework skeleton loads it as {{ static_url("js/bundle.js") }}.

import htmx from "htmx.org";
// Server-Sent Events for htmx 4: hx-sse:connect="/url" (ships inside htmx.org).
import "htmx.org/dist/ext/hx-sse.js";

// htmx 4 reads <meta name="htmx-config" content='{...}'> when it loads; the
// settings below apply on top of it.
// Forms answer validation errors with 422 + a partial, which htmx 4 swaps
// (only 204 and 304 are skipped by default). Keep it that way explicitly.
htmx.config.noSwap = [204, 304];

window.htmx = htmx;

// Forms marked data-reset-on-success clear themselves after a 2xx answer. Behaviour
// lives here rather than in hx-on attributes: the Content Security Policy runs no
// inline or eval'd code.
document.addEventListener("htmx:after:request", (event) => {
  const form = event.target;
  const status = event.detail?.ctx?.response?.status ?? 0;
  if (form instanceof HTMLFormElement && form.hasAttribute("data-reset-on-success") && status < 300) {
    form.reset();
  }
});

// Lists marked data-unique-ids keep one element per id. A post can arrive twice, from the
// live feed (hx-sse:connect, marked data-live) and from its author's own form response, in
// any order: a copy that is not live wins, since live copies are rendered for everyone
// (no Edit button) and the author's copy may already be open for editing. Between two
// copies of the same kind, the first in the list stays.
function keepOneOfEachId(list) {
  const kept = new Map();
  for (const child of [...list.children]) {
    if (!child.id) continue;
    const other = kept.get(child.id);
    if (other === undefined) kept.set(child.id, child);
    else if (other.hasAttribute("data-live") && !child.hasAttribute("data-live")) {
      other.remove();
      kept.set(child.id, child);
    } else child.remove();
  }
}
new MutationObserver((records) => {
  for (const { target } of records) {
    if (target instanceof Element && target.matches("[data-unique-ids]")) keepOneOfEachId(target);
  }
}).observe(document.documentElement, { childList: true, subtree: true });

// Project code goes below.
