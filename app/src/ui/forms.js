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
// - "Enable notifications on this device" (the settings page, shown only where the browser has the Push API):
//   registers the service worker (`/sw.js`), subscribes with the server's VAPID key and hands the subscription to
//   the server.
addEventListener('DOMContentLoaded', () => {
  const button = document.getElementById('enable-push');
  if (!button || !('serviceWorker' in navigator) || !('PushManager' in window)) return;
  button.hidden = false;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== 'granted') throw new Error(button.dataset.denied);
      await navigator.serviceWorker.register('/sw.js');
      const registration = await navigator.serviceWorker.ready;
      const b64 = button.dataset.key.replace(/-/g, '+').replace(/_/g, '/');
      const key = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      const { endpoint, keys } = subscription.toJSON();
      const body = new URLSearchParams({ endpoint, p256dh: keys.p256dh, auth: keys.auth });
      const answer = await fetch('/_fn/create_push_subscription', { method: 'POST', body, headers: { accept: 'application/json' } });
      if (!answer.ok) throw new Error((await answer.json()).detail);
      location.assign('/settings?saved=1');
    } catch (e) {
      const error = document.getElementById('push-error');
      error.textContent = e.message;
      error.hidden = false;
      button.disabled = false;
    }
  });
});
