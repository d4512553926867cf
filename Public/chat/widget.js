// The embeddable chat widget: a business puts
//   <script src="https://parley.example/c/acme/widget.js" data-key="pk_..." async></script>
// on its site; this adds a button that opens the chat page in a panel (an iframe from Parley's
// own origin, which the page's frame-ancestors policy allows only on the business's listed sites).
(() => {
  const script = document.currentScript;
  if (!script || !script.src) return;
  const src = new URL(script.src);
  const match = src.pathname.match(/^\/c\/([^/]+)\/widget\.js$/);
  if (!match) return;
  const page = new URL(`/c/${match[1]}`, src.origin);
  if (script.dataset.key) page.searchParams.set('key', script.dataset.key);
  page.searchParams.set('embed', '1');
  const label = script.dataset.label || 'Chat with us';

  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = label;
  button.setAttribute('aria-expanded', 'false');
  button.setAttribute('aria-controls', 'parley-chat-panel');
  button.style.cssText = 'position:fixed;right:16px;bottom:16px;z-index:2147483000;padding:12px 18px;border-radius:999px;'
    + 'border:0;background:#2456c7;color:#fff;font:600 15px/1.2 system-ui,sans-serif;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer;';

  const panel = document.createElement('div');
  panel.id = 'parley-chat-panel';
  panel.hidden = true;
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', label);
  panel.style.cssText = 'position:fixed;right:16px;bottom:72px;z-index:2147483000;width:min(400px,calc(100vw - 32px));'
    + 'height:min(640px,calc(100vh - 96px));border-radius:12px;overflow:hidden;box-shadow:0 8px 30px rgba(0,0,0,.3);background:#fff;';
  let frame = null;

  function toggle(open) {
    if (open && !frame) {
      frame = document.createElement('iframe');
      frame.src = page.href;
      frame.title = label;
      frame.style.cssText = 'width:100%;height:100%;border:0;';
      panel.append(frame);
    }
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) frame.focus();
  }

  button.addEventListener('click', () => toggle(panel.hidden));
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !panel.hidden) { toggle(false); button.focus(); } });
  const mount = () => document.body.append(panel, button);
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
