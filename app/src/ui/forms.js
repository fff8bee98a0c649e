// Plain forms, made kinder (inlined in every page's head; the pages work without it).
// - A form posted once is not posted again by a second click while its answer loads (an order or a payment
//   would be made twice); after a few seconds, or on a page restored from the history, it may post again.
// - A form that comes back with the server's error (`__err` in the address, `__path` naming the server function)
//   gets back what was typed into it, passwords excepted: the last posted form's values are kept for the tab.
// - A select marked `data-submit-on-change` (the language switcher) sends its form when changed: the page's
//   Content-Security-Policy allows no inline event handlers.
const AGAIN_AFTER_MS = 5000;
addEventListener('submit', (e) => {
  const form = e.target;
  if (form.method !== 'post') return;
  if (Date.now() - Number(form.dataset.sent ?? 0) < AGAIN_AFTER_MS) {
    e.preventDefault();
    return;
  }
  form.dataset.sent = String(Date.now());
  const typed = {};
  for (const el of form.elements) {
    if (el.name && /^(text|email|number|search|tel|url|textarea|select-one)$/.test(el.type)) typed[el.name] = el.value;
  }
  const posted = { id: form.id, path: new URL(form.action, location.href).pathname, typed };
  try { sessionStorage.setItem('task:posted', JSON.stringify(posted)); } catch { /* none kept */ }
});
addEventListener('pageshow', () => {
  for (const form of document.querySelectorAll('form[data-sent]')) delete form.dataset.sent;
});
addEventListener('DOMContentLoaded', () => {
  const params = new URLSearchParams(location.search);
  if (!params.has('__err')) return;
  let posted = null;
  try { posted = JSON.parse(sessionStorage.getItem('task:posted')); } catch { /* none kept */ }
  if (!posted?.id || posted.path !== params.get('__path')) return;
  const form = document.getElementById(posted.id);
  if (!(form instanceof HTMLFormElement)) return;
  for (const [name, value] of Object.entries(posted.typed)) {
    const el = form.elements.namedItem(name);
    if (el && 'value' in el && el.type !== 'hidden') el.value = value;
  }
  form.closest('details')?.setAttribute('open', '');
});
addEventListener('change', (e) => {
  const el = e.target;
  if (el instanceof HTMLSelectElement && 'submitOnChange' in el.dataset) el.form?.submit();
});
