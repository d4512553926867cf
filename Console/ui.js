// Small DOM helpers. Text always goes in through textContent (via h's string children), never
// innerHTML, so nothing from the server or a model can become markup.

/** h('div.card#id', {attrs, on: {click}}, ...children): builds an element. */
export function h(spec, props, ...children) {
  if (props === null || typeof props !== 'object' || props instanceof Node || Array.isArray(props)) {
    if (props !== undefined && props !== null) children.unshift(props);
    props = {};
  }
  const [, tag = 'div', rest = ''] = spec.match(/^([a-z0-9]*)(.*)$/i);
  const el = document.createElement(tag || 'div');
  for (const part of rest.match(/[.#][^.#]+/g) ?? []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (key === 'class') el.className += ` ${value}`;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

// Times are shown in the tenant's zone, whatever the browser's.
let zone = 'UTC';
let dateTime = null;
let timeOnly = null;
export function setTimeZone(tz) {
  try {
    dateTime = new Intl.DateTimeFormat(undefined, { timeZone: tz, dateStyle: 'medium', timeStyle: 'short' });
    timeOnly = new Intl.DateTimeFormat(undefined, { timeZone: tz, hour: '2-digit', minute: '2-digit', second: '2-digit' });
    zone = tz;
  } catch {
    setTimeZone('UTC');
  }
}
export function timeZone() { return zone; }
export function fmtDateTime(iso) { return iso ? dateTime.format(new Date(iso)) : '—'; }
export function fmtTime(iso) { return iso ? timeOnly.format(new Date(iso)) : ''; }
export function timeEl(iso, short = false) {
  return iso ? h('time', { datetime: iso, title: `${fmtDateTime(iso)} (${zone})` }, short ? fmtTime(iso) : fmtDateTime(iso)) : '—';
}

/** Wall-clock "YYYY-MM-DDTHH:MM" in the tenant's zone -> ISO UTC. */
export function zonedToISO(local) {
  if (!local) return '';
  const asUTC = new Date(`${local}:00Z`);
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(asUTC).map((p) => [p.type, p.value]));
  const shown = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return new Date(asUTC.getTime() - (shown - asUTC.getTime())).toISOString();
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function badge(text, kind = String(text).toLowerCase()) {
  return h('span.badge', { class: `badge-${kind.replace(/[^a-z_]/g, '')}` }, text);
}

export function json(value) {
  return h('pre.json', JSON.stringify(value, null, 2) ?? 'null');
}

export function collapsible(label, value, open = false) {
  return h('details.collapsible', { open }, h('summary', label), json(value));
}

export function loading(text = 'Loading…') {
  return h('div.state.state-loading', { role: 'status' }, h('span.spinner', { 'aria-hidden': 'true' }), text);
}
export function empty(title, detail) {
  return h('div.state.state-empty', h('p.state-title', title), detail ? h('p', detail) : null);
}
export function errorState(err, retry) {
  return h('div.state.state-error', { role: 'alert' },
    h('p.state-title', 'Something went wrong'),
    h('p', err?.message ?? String(err)),
    err?.requestId ? h('p.muted.small', `Request ${err.requestId}`) : null,
    retry ? h('button.btn', { type: 'button', on: { click: retry } }, 'Try again') : null);
}

export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div.toast', { class: `toast-${kind}` }, text);
  box.append(t);
  setTimeout(() => t.remove(), 6000);
}

/** Runs an async loader into `container`, with loading and error states. */
export async function load(container, loader, render) {
  clear(container).append(loading());
  try {
    const data = await loader();
    clear(container);
    render(data);
  } catch (e) {
    if (e.name === 'AbortError') return;
    clear(container).append(errorState(e, () => load(container, loader, render)));
  }
}

/** "Load more" pagination: `fetchPage(cursor)` returns {data, next_cursor}. */
export function pager(list, fetchPage, renderItem, { emptyState } = {}) {
  const wrap = h('div.pager');
  const more = h('button.btn.btn-quiet', { type: 'button' }, 'Load more');
  let cursor = null;
  async function next() {
    more.disabled = true;
    more.textContent = 'Loading…';
    try {
      const page = await fetchPage(cursor);
      if (!cursor && page.data.length === 0 && emptyState) (list.closest('.table-scroll') ?? list).replaceWith(emptyState);
      for (const item of page.data) list.append(renderItem(item));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (e) {
      wrap.append(errorState(e));
    } finally {
      more.disabled = false;
      more.textContent = 'Load more';
    }
  }
  more.addEventListener('click', next);
  wrap.append(more);
  return { element: wrap, start: next };
}

export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('div.field', h('label', { for: id }, label), control, hint ? h('p.hint', hint) : null);
}

export function pageHeader(title, subtitle, ...actions) {
  return h('header.page-header',
    h('div', h('h1', title), subtitle ? h('p.subtitle', subtitle) : null),
    actions.length ? h('div.page-actions', actions) : null);
}
