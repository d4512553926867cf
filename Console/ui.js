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

/**
 * A form whose API errors land next to the field they name. `fields` maps a request field
 * (client_email) to its control; `codes` maps error codes (invalid_email) to a request field.
 * Returns {show(err), clear()}: show puts the message under the field (or in the form's
 * general error when no field matches) and focuses that field.
 */
export function fieldErrors(form, fields, codes = {}) {
  const general = h('p.form-error', { role: 'alert', hidden: true });
  form.prepend(general);
  const slots = {};
  for (const [name, control] of Object.entries(fields)) {
    const slot = h('p.field-error', { id: `${control.id || name}-error`, role: 'alert', hidden: true });
    (control.closest('.field') ?? control.parentElement).append(slot);
    slots[name] = { control, slot };
  }
  function clearAll() {
    general.hidden = true;
    for (const { control, slot } of Object.values(slots)) {
      slot.hidden = true;
      slot.textContent = '';
      control.removeAttribute('aria-invalid');
      control.removeAttribute('aria-describedby');
    }
  }
  function show(err, name) {
    clearAll();
    const field = name ?? codes[err?.code] ?? Object.keys(slots).find((f) => (err?.message ?? '').startsWith(f));
    const target = slots[field];
    const text = humanize(err?.message ?? String(err));
    if (!target) {
      general.textContent = text;
      general.hidden = false;
      return;
    }
    target.slot.textContent = text;
    target.slot.hidden = false;
    target.control.setAttribute('aria-invalid', 'true');
    target.control.setAttribute('aria-describedby', target.slot.id);
    target.control.focus();
  }
  return { show, clear: clearAll };
}

/** "client_email is not a valid email address" -> "Client email is not a valid email address." */
export function humanize(message) {
  const text = String(message).replace(/\b([a-z]+(?:_[a-z]+)+)\b/g, (w) => w.replace(/_/g, ' '));
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

/** Copies text; falls back to selecting `input` and the legacy copy command. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!input) return false;
    input.focus();
    input.select();
    try { return document.execCommand('copy'); } catch { return false; }
  }
}

/** "YYYY-MM-DDTHH:MM" of an instant, in the tenant's zone (for datetime-local inputs). */
export function isoToZoned(iso) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** "08:00" of an instant in the tenant's zone. */
export function fmtClock(iso) {
  return new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
}

/** Why a message or job waits, in words (the API's waiting_reason, not_before and the job's attempts). */
export function waitingText(m) {
  const job = m.job ?? m;
  const until = m.not_before ? `${fmtClock(m.not_before)} (${fmtDateTime(m.not_before)}, ${timeZone()})` : '';
  switch (m.waiting_reason) {
    case 'quiet_hours': return `Held by quiet hours: it goes out at ${until}.`;
    case 'scheduled': return `Scheduled: it goes out at ${until}.`;
    case 'retrying': return `Retrying after an error: attempt ${job.attempts} of ${job.max_attempts} failed${job.last_error ? ` (${job.last_error})` : ''}; the next is at ${until}.`;
    case 'due': return 'Due now: waiting for a worker to send it.';
    case 'sending': return 'Being sent now.';
    case 'no_consent': return `Will not be sent unless consent changes: ${m.waiting_detail ?? 'the recipient is suppressed.'}`;
    default: return m.status === 'sent' ? 'Sent.' : '';
  }
}

/**
 * An email's HTML part in a sandboxed frame (no script, no forms, no same-origin access), with its
 * plain text one click away. Returns the elements to append: frame, text, and the toggle's row.
 */
export function formattedMail(html, text, title, textClass = 'div.message-text') {
  const frame = h('iframe.mail-frame', { sandbox: '', title, referrerpolicy: 'no-referrer' });
  frame.srcdoc = html;
  const plain = h(textClass, { hidden: true }, text ?? '');
  const toggle = h('button.btn.btn-small.btn-quiet', { type: 'button', 'aria-pressed': 'false', on: { click: () => {
    const showText = plain.hidden;
    plain.hidden = !showText;
    frame.hidden = showText;
    toggle.setAttribute('aria-pressed', String(showText));
    toggle.textContent = showText ? 'Show formatted' : 'Show plain text';
  } } }, 'Show plain text');
  return [frame, plain, h('div.mail-actions', toggle)];
}
