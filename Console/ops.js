// The operator's views: workflows, jobs, messages, the outbox, templates and settings.

import { api, get, post, query } from './api.js';
import { renderMarkdown } from './markdown.js';
import { Timeline } from './timeline.js';
import { h, append, clear, badge, collapsible, empty, errorState, field, fieldErrors, fmtDuration, formattedMail, load, loading, pageHeader, pager, timeEl, toast, waitingText, zonedToISO, timeZone } from './ui.js';

const WORKFLOW_STATUSES = ['PENDING', 'PROCESSING', 'WAITING_APPROVAL', 'COMPLETED', 'FAILED', 'CANCELLED'];
const JOB_STATES = ['queued', 'running', 'retrying', 'succeeded', 'dead', 'cancelled'];
const enc = encodeURIComponent;

function select(id, label, options, value) {
  const s = h(`select#${id}`, h('option', { value: '' }, `All ${label}`), options.map((o) => h('option', { value: o }, o.replace(/_/g, ' ').toLowerCase())));
  s.value = value ?? '';
  return s;
}

export function table(headers, caption) {
  const tbody = h('tbody');
  const t = h('table.data', caption ? h('caption.visually-hidden', caption) : null,
    h('thead', h('tr', headers.map((x) => h('th', { scope: 'col' }, x)))), tbody);
  return { element: h('div.table-scroll', t), tbody };
}

// MARK: workflows

export function workflowsView(container, params) {
  if (params[0]) return workflowDetail(container, params[0]);
  const url = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const status = select('wf-status', 'statuses', WORKFLOW_STATUSES, url.get('status'));
  const from = h('input#wf-from', { type: 'datetime-local', value: url.get('from') ?? '' });
  const to = h('input#wf-to', { type: 'datetime-local', value: url.get('to') ?? '' });
  const results = h('div.results');
  const filters = h('form.filters', { on: { submit: (ev) => { ev.preventDefault(); apply(); } } },
    field('Status', status), field(`From (${timeZone()})`, from), field(`To (${timeZone()})`, to),
    h('div.field.field-actions', h('button.btn', { type: 'submit' }, 'Filter')));
  clear(container).append(pageHeader('Workflows', 'Every agent run: what was asked, what it did, how it ended.'), filters, results);

  function apply() {
    const q = query({ status: status.value, from: from.value, to: to.value });
    history.replaceState(null, '', `#/workflows${q}`);
    run();
  }
  function run() {
    const { element, tbody } = table(['Started', 'Status', 'Request', 'Steps', 'Tokens'], 'Workflows');
    const p = pager(tbody,
      (before) => get(`/v1/workflows${query({ limit: 25, before, status: status.value, created_after: zonedToISO(from.value), created_before: zonedToISO(to.value) })}`),
      (w) => h('tr.row-link', { tabindex: 0, on: { click: () => open(w), keydown: (ev) => { if (ev.key === 'Enter') open(w); } } },
        h('td', timeEl(w.created_at)), h('td', badge(w.status)),
        h('td.cell-text', h('a', { href: `#/workflows/${w.workflow_id}` }, w.initial_prompt)),
        h('td.num', String(w.total_steps)), h('td.num', `${w.usage.input_tokens + w.usage.output_tokens}`)),
      { emptyState: empty('No workflows match', 'Runs appear here once someone chats with Parley.') });
    clear(results).append(element, p.element);
    p.start();
  }
  const open = (w) => { location.hash = `#/workflows/${w.workflow_id}`; };
  run();
}

function workflowDetail(container, id) {
  const body = h('div');
  clear(container).append(h('nav.breadcrumb', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/workflows' }, 'Workflows'), ' / ', h('span', 'Run')), body);
  load(body, () => Promise.all([get(`/api/workflows/${enc(id)}`), get(`/v1/workflows/${enc(id)}`), get(`/v1/workflows/${enc(id)}/events`)]),
    ([seed, wf, events]) => {
      const usage = wf.usage ?? {};
      append(body, [pageHeader('Workflow', wf.workflow_id, badge(wf.status)),
        h('section.card', { 'aria-label': 'Summary' }, h('dl.facts',
          fact('Request', wf.initial_prompt), fact('Started', timeEl(wf.created_at)), fact('Finished', timeEl(wf.completed_at)),
          fact('Provider', wf.provider ?? '—'), fact('Tool calls', String(wf.total_steps)),
          fact('Tools used', wf.tools_used.length ? wf.tools_used.join(', ') : 'none'),
          fact('Input tokens', String(usage.input_tokens ?? 0)), fact('Output tokens', String(usage.output_tokens ?? 0)),
          wf.session_id ? fact('Conversation', h('a', { href: `#/chat/${wf.session_id}` }, 'Open in chat')) : null)),
        wf.final_response ? h('section.card', h('h2', 'Answer'), h('div.prose', renderMarkdown(wf.final_response))) : null,
        wf.error_message ? h('section.card.card-error', { role: 'alert' }, h('h2', 'Error'), h('p', `${wf.error_type}: ${wf.error_message}`)) : null,
        h('section.card', h('h2', 'Reasoning chain'), reasoningChain(seed.reasoning_chain)),
        wf.approvals.length ? h('section.card', h('h2', 'Approvals'), approvalsList(wf.approvals)) : null,
        h('section.card', h('h2', 'Event log'), eventLog(events.data, wf))]);
    });
}

function fact(label, value) { return h('div.fact', h('dt', label), h('dd', value)); }

function reasoningChain(chain) {
  if (!chain.length) return empty('No tool steps', 'The assistant answered without calling tools.');
  return h('ol.chain', chain.map((s) => h('li.chain-step',
    h('div.chain-head', h('span.chain-num', `Step ${s.step_number}`), h('code', s.action),
      s.success === null || s.success === undefined ? badge('not run', 'pending') : badge(s.success ? 'success' : 'failed'),
      s.duration_ms !== null && s.duration_ms !== undefined ? h('span.muted', fmtDuration(s.duration_ms)) : null),
    s.thought ? h('p.tl-thought', s.thought) : null,
    collapsible('Input', s.action_input), s.action_output !== undefined ? collapsible('Output', s.action_output) : null)));
}

function approvalsList(list) {
  return h('ul.plain', list.map((a) => h('li.approval-row', h('code', a.tool), ' ', badge(a.status), ' ', h('span.muted', a.reason),
    a.decided_by ? h('span.muted.small', ` — ${a.decided_by}, `, timeEl(a.decided_at)) : null)));
}

function eventLog(events, wf) {
  const t = new Timeline({ canDecide: wf.status === 'WAITING_APPROVAL' });
  for (const e of events) t.add(e);
  t.markDecided(wf.approvals);
  return t.element;
}

// MARK: jobs and messages

export function jobsView(container) {
  const url = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const state = select('job-state', 'states', JOB_STATES, url.get('state'));
  const lookup = h('input#msg-id', { type: 'text', placeholder: 'Message id', autocomplete: 'off', spellcheck: false });
  const results = h('div.results');
  clear(container).append(pageHeader('Jobs', 'Delivery jobs for every message Parley sends: state, attempts and errors.'),
    h('div.toolbar',
      h('form.filters', { on: { submit: (ev) => { ev.preventDefault(); history.replaceState(null, '', `#/jobs${query({ state: state.value })}`); run(); } } },
        field('State', state), h('div.field.field-actions', h('button.btn', { type: 'submit' }, 'Filter'))),
      h('form.filters', { on: { submit: (ev) => { ev.preventDefault(); if (lookup.value.trim()) location.hash = `#/messages/${lookup.value.trim()}`; } } },
        field('Find a message', lookup), h('div.field.field-actions', h('button.btn', { type: 'submit' }, 'Open')))),
    results);
  function run() {
    const { element, tbody } = table(['Created', 'Type', 'State', 'Attempts', 'Next run', 'Why it waits', 'Last error', ''], 'Jobs');
    const p = pager(tbody, (before) => get(`/v1/jobs${query({ limit: 25, before, state: state.value })}`), jobRow,
      { emptyState: empty('No jobs', 'Jobs appear when messages are queued.') });
    clear(results).append(element, p.element);
    p.start();
  }
  run();
}

function jobRow(j) {
  const actions = h('td.actions');
  const row = h('tr', h('td', timeEl(j.created_at)), h('td', j.type.replace('send_', '')), h('td', badge(j.state)),
    h('td.num', `${j.attempts} / ${j.max_attempts}`), h('td', timeEl(j.run_at)),
    h('td.cell-text.waiting', { dataset: { reason: j.waiting_reason ?? '' } }, waitingText(j)),
    h('td.cell-text.error-text', j.last_error ?? ''), actions);
  const act = (verb) => async () => {
    try {
      const updated = await post(`/v1/jobs/${enc(j.job_id)}/${verb}`);
      row.replaceWith(jobRow(updated));
      toast(verb === 'retry' ? 'Job queued again.' : 'Job cancelled.', 'success');
    } catch (e) { toast(e.message, 'error'); }
  };
  if (['dead', 'cancelled', 'retrying'].includes(j.state)) actions.append(h('button.btn.btn-small', { type: 'button', on: { click: act('retry') } }, 'Retry'));
  if (['queued', 'retrying'].includes(j.state)) actions.append(h('button.btn.btn-small', { type: 'button', on: { click: act('cancel') } }, 'Cancel'));
  return row;
}

export function messageView(container, params) {
  const body = h('div');
  clear(container).append(h('nav.breadcrumb', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/outbox' }, 'Outbox'), ' / ', h('span', 'Message')), body);
  load(body, () => get(`/v1/messages/${enc(params[0] ?? '')}`), (m) => {
    body.append(pageHeader(m.subject || (m.channel === 'sms' ? 'Text message' : 'Email'), m.message_id, badge(m.status)),
      h('section.card', h('dl.facts',
        fact('Channel', m.channel), fact('To', m.to), fact('Purpose', m.purpose), fact('Provider', m.provider ?? '—'),
        fact('Created', timeEl(m.created_at)), fact('Due', timeEl(m.send_at)), fact('Sent', timeEl(m.sent_at)),
        m.waiting_reason ? fact('Why it waits', h('span.waiting', { dataset: { reason: m.waiting_reason } }, waitingText(m))) : null,
        m.error ? fact('Error', m.error) : null,
        m.job ? fact('Job', h('span', badge(m.job.state), ` attempt ${m.job.attempts} of ${m.job.max_attempts}`, m.job.last_error ? ` — ${m.job.last_error}` : '')) : null)),
      h('section.card', h('h2', 'Content'), h('div.message-text', m.text)));
  });
}

// MARK: outbox

export function outboxView(container) {
  const list = h('div.outbox');
  clear(container).append(pageHeader('Outbox', 'Messages as they were delivered: emails as the recipient sees them, and text messages.'), list);
  const p = pager(list, (before) => get(`/v1/outbox${query({ limit: 20, before })}`), outboxEntry,
    { emptyState: empty('The outbox is empty', 'Messages Parley sends appear here.') });
  container.append(p.element);
  p.start();
}

function outboxEntry(entry) {
  const head = h('header.mail-head',
    h('div', h('span.mail-channel', badge(entry.channel === 'sms' ? 'SMS' : 'Email', entry.channel)), ' ', h('strong', entry.to)),
    h('div.muted.small', timeEl(entry.created_at), ' · ', h('a', { href: `#/messages/${entry.message_id}` }, 'Message details')));
  if (entry.channel === 'sms') {
    return h('article.card.mail', { dataset: { messageId: entry.message_id } }, head, h('div.sms-bubble', entry.content));
  }
  const mail = parseMIME(entry.content);
  const article = h('article.card.mail', { dataset: { messageId: entry.message_id } }, head,
    h('dl.mail-fields', fact('Subject', mail.headers.subject ?? '(no subject)'), mail.headers.from ? fact('From', mail.headers.from) : null));
  if (mail.html) {
    article.append(...formattedMail(mail.html, mail.text, `Email to ${entry.to}`));
  } else {
    article.append(h('div.message-text', mail.text ?? ''));
  }
  return article;
}

/** Enough of MIME for Parley's own messages: headers, multipart/alternative, QP and base64. */
export function parseMIME(raw) {
  const { headers, body } = splitHeaders(raw);
  const type = headers['content-type'] ?? 'text/plain';
  const out = { headers, text: null, html: null };
  const boundary = type.match(/boundary="?([^";]+)"?/i)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    for (const part of body.split(`--${boundary}`).slice(1)) {
      if (part.startsWith('--')) break;
      const p = splitHeaders(part.replace(/^\r?\n/, ''));
      const decoded = decode(p.body.replace(/\r?\n$/, ''), p.headers['content-transfer-encoding']);
      if (/text\/html/i.test(p.headers['content-type'] ?? '')) out.html = decoded;
      else if (/text\/plain/i.test(p.headers['content-type'] ?? 'text/plain')) out.text = decoded;
    }
  } else if (/text\/html/i.test(type)) {
    out.html = decode(body, headers['content-transfer-encoding']);
  } else {
    out.text = decode(body, headers['content-transfer-encoding']);
  }
  return out;
}

function splitHeaders(raw) {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = decodeWords(line.slice(c + 1).trim());
  }
  return { headers, body };
}

function decode(text, encoding = '') {
  const bytes = (s) => new TextDecoder().decode(Uint8Array.from(s, (c) => c.charCodeAt(0)));
  if (/base64/i.test(encoding)) {
    try { return bytes(atob(text.replace(/\s+/g, ''))); } catch { return text; }
  }
  if (/quoted-printable/i.test(encoding)) {
    return bytes(text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, x) => String.fromCharCode(parseInt(x, 16))));
  }
  return text;
}

function decodeWords(value) {
  return value.replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_, kind, data) =>
    kind.toLowerCase() === 'b' ? decode(data, 'base64') : decode(data.replace(/_/g, ' '), 'quoted-printable'));
}

// MARK: templates

export function templatesView(container, params) {
  const listPane = h('nav.template-list', { 'aria-label': 'Templates' });
  const editorPane = h('div.template-editor');
  clear(container).append(pageHeader('Templates', 'Message templates: edit, preview with sample values, and see every version.'),
    h('div.split', listPane, editorPane));
  load(listPane, () => get('/v1/templates'), (page) => {
    if (!page.data.length) { listPane.append(empty('No templates')); return; }
    listPane.append(h('ul.plain', page.data.map((t) => h('li', h('a.template-link', { href: `#/templates/${t.name}`, 'aria-current': t.name === params[0] ? 'page' : null },
      h('span', t.name), h('span.muted.small', `${t.channel} · v${t.version}${t.overridden ? ' · edited' : ''}`))))));
    const chosen = page.data.find((t) => t.name === params[0]);
    if (chosen) templateEditor(editorPane, chosen);
    else editorPane.append(empty('Choose a template', 'Select a template on the left to edit it.'));
  });
}

function templateEditor(pane, t) {
  clear(pane);
  const subject = h('input#tpl-subject', { type: 'text', value: t.subject ?? '' });
  const text = h('textarea#tpl-text', { rows: 8 }, t.text);
  const html = h('textarea#tpl-html', { rows: 6 }, t.html ?? '');
  const required = h('input#tpl-required', { type: 'text', value: t.required_variables.join(', ') });
  const personalize = h('input#tpl-personalize', { type: 'checkbox', checked: Boolean(t.personalize) });
  const guidance = h('textarea#tpl-guidance', { rows: 2, maxlength: 2000 }, t.personalization_prompt ?? '');
  const sample = Object.fromEntries(t.variables.map((v) => [v, v.replace(/_/g, ' ')]));
  const variables = h('textarea#tpl-vars.mono', { rows: 5 }, JSON.stringify(sample, null, 2));
  const preview = h('div.preview', { 'aria-live': 'polite' });
  const versions = h('div.versions');
  const email = t.channel === 'email';
  const draft = () => ({
    channel: t.channel, purpose: t.purpose, subject: email ? subject.value : null, text: text.value,
    html: email && html.value.trim() ? html.value : null,
    required_variables: required.value.split(',').map((s) => s.trim()).filter(Boolean),
    exempt_from_quiet_hours: t.exempt_from_quiet_hours,
    personalize: personalize.checked,
    personalization_prompt: guidance.value.trim() ? guidance.value : null,
  });
  let timer = null;
  let seq = 0;
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++seq;
      let vars;
      try { vars = JSON.parse(variables.value || '{}'); } catch { clear(preview).append(h('p.error-text', 'Sample values must be a JSON object.')); return; }
      try {
        const r = await post(`/v1/templates/${enc(t.name)}/preview`, { template: draft(), variables: vars });
        if (mine !== seq) return;
        append(clear(preview), [
          r.subject !== null ? h('p.preview-subject', h('strong', 'Subject: '), r.subject) : null,
          h('div.message-text', r.text)]);
        if (r.html) {
          const f = h('iframe.mail-frame', { sandbox: '', title: 'HTML preview' });
          f.srcdoc = r.html;
          preview.append(f);
        }
      } catch (e) {
        if (mine === seq) clear(preview).append(h('p.error-text', { role: 'alert' }, e.message));
      }
    }, 300);
  };
  for (const c of [subject, text, html, required, variables]) c.addEventListener('input', refresh);
  const save = async (ev) => {
    ev.preventDefault();
    try {
      const saved = await api('PUT', `/v1/templates/${enc(t.name)}`, draft());
      toast(`Saved version ${saved.version}.`, 'success');
      loadVersions();
    } catch (e) { toast(e.message, 'error'); }
  };
  const loadVersions = () => load(versions, () => get(`/v1/templates/${enc(t.name)}/versions`), (page) => {
    versions.append(h('ul.plain.version-list', page.data.map((v) => h('li',
      h('button.btn.btn-quiet.btn-small', { type: 'button', on: { click: () => {
        subject.value = v.subject ?? ''; text.value = v.text; html.value = v.html ?? ''; required.value = v.required_variables.join(', ');
        personalize.checked = Boolean(v.personalize); guidance.value = v.personalization_prompt ?? '';
        refresh();
      } } }, `Version ${v.version}`),
      v.current ? badge('in use', 'success') : null, ' ',
      h('span.muted.small', v.created_at ? [timeEl(v.created_at), ` · ${v.created_by}`] : 'built-in default')))));
  });
  pane.append(h('form.card', { on: { submit: save } },
    h('h2', t.name), h('p.muted', `${t.channel} · ${t.purpose}`),
    email ? field('Subject', subject) : null,
    field(email ? 'Text part' : 'Text', text, 'Mustache: {{variable}}, {{#section}}…{{/section}}'),
    email ? field('HTML part (optional)', html) : null,
    field('Required variables', required, 'Comma-separated'),
    h('div.field', h('label.check', personalize, 'Personalise with AI'),
      h('p.hint', 'Each message is rewritten for its recipient by the configured model; the template is sent if the model is off, slow, or changes a fact.')),
    field('Personalisation guidance (optional)', guidance, 'Tone, what to emphasise.'),
    h('div.form-actions', h('button.btn.btn-primary', { type: 'submit' }, 'Save new version'))),
  h('div.template-side',
    h('section.card', h('h2', 'Preview'), field('Sample values (JSON)', variables), preview),
    h('section.card', h('h2', 'Version history'), versions)));
  refresh();
  loadVersions();
}

export { loading, errorState };

// MARK: settings

/** The workspace's name and time zone (admins change them), and the schedules that follow the zone. */
export function settingsView(container, _params, { session, tenantChanged } = {}) {
  const admin = session?.role === 'admin';
  const name = h('input#tenant-name', { type: 'text', name: 'name', maxlength: 200, required: true, value: session.tenant.name, disabled: !admin });
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const zone = h('input#tenant-zone', { type: 'text', name: 'time_zone', list: 'tenant-zones', autocomplete: 'off', spellcheck: false,
    value: session.tenant.time_zone, disabled: !admin });
  const list = h('datalist#tenant-zones', zones.map((z) => h('option', { value: z })));
  const handoffEmail = h('input#tenant-handoff-email', { type: 'email', name: 'handoff_email', autocomplete: 'off', maxlength: 254, disabled: !admin });
  get('/v1/tenant').then((t) => { handoffEmail.value = t.handoff_email ?? ''; }, () => {});
  const save = h('button.btn.btn-primary#tenant-save', { type: 'submit', disabled: !admin }, 'Save');
  const form = h('form.card.settings-form', { novalidate: true },
    h('div.form-grid',
      field('Workspace name', name, 'Shown in the console and as the firm name in emails.'),
      field('Time zone', zone, 'An IANA zone such as America/Chicago. Quiet hours, schedules and "today" for reminders follow it.'),
      field('Hand-off email', handoffEmail, 'Staff are emailed here when a conversation is handed to a person. Leave empty to send nothing.')),
    list,
    admin ? h('div.form-actions', save) : h('p.hint', 'Only an admin can change these settings.'));
  const errors = fieldErrors(form, { name, time_zone: zone, handoff_email: handoffEmail },
    { invalid_name: 'name', invalid_time_zone: 'time_zone', invalid_handoff_email: 'handoff_email' });
  const schedules = h('div.results');
  const heading = h('h2.section-title');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    save.disabled = true;
    try {
      const t = await api('PATCH', '/v1/tenant', { name: name.value, time_zone: zone.value.trim(), handoff_email: handoffEmail.value.trim() || null });
      name.value = t.name;
      zone.value = t.time_zone;
      handoffEmail.value = t.handoff_email ?? '';
      tenantChanged?.(t);
      toast(`Saved: ${t.name}, ${t.time_zone}.`, 'success');
      showSchedules();
    } catch (e) {
      errors.show(e);
    } finally {
      save.disabled = !admin;
    }
  });
  function showSchedules() {
    heading.textContent = `Recurring tasks (times in ${timeZone()})`;
    load(schedules, () => get('/v1/schedules'), (page) => {
      if (!page.data.length) { schedules.append(empty('No recurring tasks', 'Scheduled tasks appear here.')); return; }
      const { element, tbody } = table(['Task', 'Schedule', 'Next run', 'Enabled'], 'Recurring tasks');
      for (const t of page.data) {
        tbody.append(h('tr', h('td', t.name), h('td', scheduleText(t.schedule)), h('td', { dataset: { nextRun: t.next_run_at } }, timeEl(t.next_run_at)),
          h('td', t.enabled ? 'yes' : 'no')));
      }
      schedules.append(element);
    });
  }
  clear(container).append(pageHeader('Settings', `Workspace ${session.tenant.slug}`), form,
    h('section', heading, schedules));
  showSchedules();
}

function scheduleText(s) {
  const days = ['', 'Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  switch (s?.kind) {
    case 'every': return `every ${s.seconds} s`;
    case 'daily': return `daily at ${s.at}`;
    case 'weekly': return `${days[s.weekday] ?? 'weekly'}s at ${s.at}`;
    case 'monthly': return `monthly on day ${s.day} at ${s.at}`;
    default: return JSON.stringify(s);
  }
}
