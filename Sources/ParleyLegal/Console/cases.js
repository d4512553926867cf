// Cases (legal pack): find, open and work a case — create it, mark documents received or
// rejected, review and send (or schedule) a reminder, make an upload link, close it. Until the
// pack is installed its routes answer 404 and the view says so.

import { api, get, post, query } from '/console/api.js';
import {
  h, clear, badge, copyText, empty, errorState, field, fieldErrors, fmtDateTime, formattedMail, humanize, load, loading, pageHeader, pager,
  timeEl, timeZone, toast, waitingText, zonedToISO,
} from '/console/ui.js';

const STATUSES = ['OPEN', 'PENDING', 'CLOSED'];
const enc = encodeURIComponent;

function notInstalled(e) { return e?.status === 404 && (e.code === 'route_not_found' || e.code === 'not_found'); }

function notInstalledState() {
  return empty('Cases are not installed', 'The legal pack adds client cases, requested documents and uploads. Once it is installed, they appear here.');
}

const canAct = (session) => ['admin', 'operator', 'service'].includes(session?.role);

export function casesView(container, params, { session } = {}) {
  if (params[0] === 'new') return newCaseForm(container);
  if (params[0]) return caseDetail(container, params[0], session);
  const name = h('input#case-search', { type: 'search', placeholder: 'Client name, e.g. Bob Smith', autocomplete: 'off' });
  const status = h('select#case-status', h('option', { value: '' }, 'All statuses'), STATUSES.map((s) => h('option', { value: s }, s.toLowerCase())));
  status.value = 'OPEN';
  const results = h('div.results');
  const create = canAct(session) ? h('a.btn.btn-primary#new-case', { href: '#/cases/new' }, 'New case') : null;
  clear(container).append(pageHeader('Cases', 'Client matters, the documents requested from them and what was sent.', create),
    h('form.filters', { role: 'search', on: { submit: (ev) => { ev.preventDefault(); run(); } } },
      field('Client name', name), field('Status', status), h('div.field.field-actions', h('button.btn.btn-primary', { type: 'submit' }, 'Search'))),
    results);

  async function run() {
    clear(results).append(loading());
    const { element, tbody } = caseTable(!!name.value.trim());
    try {
      if (name.value.trim()) {
        const r = await post('/v1/cases/search', {
          client_name: name.value.trim(), use_fuzzy_matching: true, fuzzy_threshold: 0.3, limit: 50, status: status.value || undefined,
        });
        clear(results);
        if (!r.cases.length) { results.append(empty('No matching cases', `Nothing close to “${name.value.trim()}”.`)); return; }
        results.append(h('p.muted.small', `${r.total_found} found`), element);
        for (const c of r.cases) tbody.append(caseRow(c, true));
      } else {
        // Probe first so a missing pack shows one clear message instead of a table.
        const first = await get(`/v1/cases${query({ status: status.value, limit: 25 })}`);
        clear(results).append(element);
        let pending = first;
        const p = pager(tbody, async (before) => {
          if (pending) { const page = pending; pending = null; return page; }
          return get(`/v1/cases${query({ status: status.value, limit: 25, before })}`);
        }, (c) => caseRow(c, false), { emptyState: empty('No cases', 'Cases appear here when they are opened.') });
        results.append(p.element);
        p.start();
      }
    } catch (e) {
      clear(results).append(notInstalled(e) ? notInstalledState() : errorState(e, run));
    }
  }
  run();
}

function caseTable(withScore) {
  const tbody = h('tbody');
  const cols = ['Client', 'Case', 'Status', 'Outstanding documents', 'Updated'].concat(withScore ? ['Match'] : []);
  return { element: h('div.table-scroll', h('table.data', h('thead', h('tr', cols.map((c) => h('th', { scope: 'col' }, c)))), tbody)), tbody };
}

function caseRow(c, withScore) {
  const docs = Array.isArray(c.outstanding_documents) ? c.outstanding_documents.length : (c.outstanding_documents ?? 0);
  return h('tr',
    h('td', h('a', { href: `#/cases/${c.case_id}` }, c.client_name), h('div.muted.small', c.client_email ?? '')),
    h('td', c.case_number ?? '—'), h('td', badge(c.status ?? '—')), h('td.num', String(docs)), h('td', timeEl(c.updated_at)),
    withScore ? h('td.num', c.match_score !== undefined ? `${Math.round(c.match_score * 100)}%` : '') : null);
}

// MARK: a new case

// The API stores no case type: a type is a starting list of documents to request.
const CASE_TYPES = [
  ['', 'Other (list the documents)', []],
  ['tax', 'Tax return preparation', ['W2', '1099', 'Prior year tax return', 'Photo ID']],
  ['estate', 'Estate planning', ['Photo ID', 'Property deed', 'Bank statements', 'Existing will']],
  ['immigration', 'Immigration', ['Passport', 'Birth certificate', 'Photo ID', 'Proof of address']],
  ['injury', 'Personal injury', ['Photo ID', 'Police report', 'Medical records', 'Insurance policy']],
];

function newCaseForm(container) {
  const name = h('input#case-client-name', { type: 'text', name: 'client_name', autocomplete: 'off', required: true, maxlength: 200 });
  const email = h('input#case-client-email', { type: 'email', name: 'client_email', autocomplete: 'off', required: true });
  const phone = h('input#case-client-phone', { type: 'tel', name: 'client_phone', autocomplete: 'off', placeholder: '+1 555 123 4567' });
  const type = h('select#case-type', CASE_TYPES.map(([v, label]) => h('option', { value: v }, label)));
  const docs = h('textarea#case-documents', { name: 'requested_documents', rows: 5, placeholder: 'One document per line, e.g.\nW2\n2023 tax return' });
  const number = h('input#case-number', { type: 'text', name: 'case_number', autocomplete: 'off', maxlength: 40, placeholder: 'Assigned automatically' });
  type.addEventListener('change', () => {
    const preset = CASE_TYPES.find(([v]) => v === type.value)?.[2] ?? [];
    if (preset.length) docs.value = preset.join('\n');
  });
  const submit = h('button.btn.btn-primary', { type: 'submit' }, 'Create case');
  const form = h('form.card.case-form', { novalidate: true },
    h('div.form-grid',
      field('Client name', name), field('Email', email, 'Reminders go only to this address.'), field('Phone (optional)', phone),
      field('Case type', type, 'Fills in the usual documents; change them as needed.'),
      field('Requested documents', docs, 'One per line (or separated by commas).'), field('Case number (optional)', number)),
    h('div.form-actions', h('a.btn', { href: '#/cases' }, 'Cancel'), submit));
  const errors = fieldErrors(form, { client_name: name, client_email: email, client_phone: phone, requested_documents: docs, case_number: number }, {
    invalid_client_name: 'client_name', invalid_email: 'client_email', invalid_phone: 'client_phone',
    documents_required: 'requested_documents', invalid_documents: 'requested_documents', invalid_case_number: 'case_number', case_number_taken: 'case_number',
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    const list = docs.value.split(/\n|,/).map((d) => d.trim()).filter(Boolean);
    submit.disabled = true;
    try {
      const created = await post('/v1/cases', {
        client_name: name.value, client_email: email.value, client_phone: phone.value.trim() || undefined,
        requested_documents: list, case_number: number.value.trim() || undefined,
      });
      toast(`Case ${created.case_number} created for ${created.client_name}.`, 'success');
      location.hash = `#/cases/${created.case_id}`;
    } catch (e) {
      errors.show(e);
    } finally {
      submit.disabled = false;
    }
  });
  clear(container).append(h('nav.breadcrumb', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/cases' }, 'Cases'), ' / ', h('span', 'New case')),
    pageHeader('New case', 'Open a matter and list the documents to collect from the client.'), form);
  name.focus();
}

// MARK: a case

function caseDetail(container, id, session) {
  const body = h('div');
  clear(container).append(h('nav.breadcrumb', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/cases' }, 'Cases'), ' / ', h('span', 'Case')), body);
  // What the last reminder did, shown above the form again after the case reloads.
  let flash = null;
  const reload = (summary) => {
    flash = summary instanceof Node ? summary : null;
    return show();
  };
  const show = () => load(body, () => get(`/v1/cases/${enc(id)}`).catch((e) => { if (notInstalled(e) && e.code === 'route_not_found') return null; throw e; }), (c) => {
    if (!c) { body.append(notInstalledState()); return; }
    const acting = canAct(session) && c.status !== 'CLOSED';
    const section = (title, items, render, none, ...extra) => h('section.card', h('h2', title),
      items?.length ? h('ul.plain.rows', items.map(render)) : h('p.muted', none), extra);
    const outstanding = (c.requested_documents ?? []).filter((d) => d.status === 'requested' || d.status === 'rejected');
    body.append(pageHeader(c.client_name, c.case_number ? `Case ${c.case_number}` : c.case_id, badge(c.status),
      acting ? closeButton(c, reload) : null),
      h('section.card', h('dl.facts',
        h('div.fact', h('dt', 'Email'), h('dd', c.client_email ?? '—')), h('div.fact', h('dt', 'Phone'), h('dd', c.client_phone ?? '—')),
        h('div.fact', h('dt', 'Opened'), h('dd', timeEl(c.created_at))), h('div.fact', h('dt', 'Updated'), h('dd', timeEl(c.updated_at))))),
      section('Requested documents', c.requested_documents, (d) => documentRow(d, acting, reload), 'No documents requested.'),
      acting ? reminderCard(c, outstanding, session, reload, flash) : null,
      acting ? uploadLinkCard(c) : null,
      section('Communications', c.communications, (m) => h('li.row',
        h('div', h('strong', m.subject || (m.channel === 'sms' ? 'Text message' : 'Email')), h('p.muted.small', `${m.channel} to ${m.recipient}`),
          m.body ? h('p.message-text.small', m.body) : null),
        h('div', badge(m.delivery_status ?? 'unknown'), h('div.muted.small', timeEl(m.sent_at)),
          m.message_id ? h('a.small', { href: `#/messages/${m.message_id}` }, 'Message') : null)), 'Nothing sent yet.'),
      section('Uploads', c.uploads, (u) => h('li.row',
        h('div', h('strong', u.file_name), h('p.muted.small', `${u.content_type} · ${Math.max(1, Math.round(u.size_bytes / 1024))} KB`)),
        h('div.muted.small', timeEl(u.uploaded_at))), 'No uploads yet.'));
  });
  show();
}

function documentRow(d, acting, reload) {
  const info = h('div', h('strong', d.document_name), d.description ? h('p.muted.small', d.description) : null,
    d.notes ? h('p.small.doc-notes', d.status === 'rejected' ? `Rejected: ${d.notes}` : d.notes) : null);
  const state = h('div.doc-state', badge(d.status), d.completed_at ? h('div.muted.small', timeEl(d.completed_at)) : null);
  const row = h('li.row.doc-row', { dataset: { documentId: d.requested_doc_id, status: d.status } }, info, state);
  if (!acting || d.status === 'accepted') return row;
  const update = async (bodyJSON, done, errors) => {
    try {
      await api('PUT', `/v1/cases/documents/${enc(d.requested_doc_id)}`, bodyJSON);
      toast(done, 'success');
      reload();
    } catch (e) {
      if (errors) errors.show(e); else toast(humanize(e.message), 'error');
    }
  };
  const actions = h('div.doc-actions');
  if (d.status !== 'received') {
    actions.append(h('button.btn.btn-small', { type: 'button', on: { click: () => update({ status: 'received' }, `${d.document_name} marked received.`) } }, 'Mark received'));
  }
  if (d.status !== 'rejected') {
    const reason = h('input.doc-reason', { type: 'text', name: 'notes', maxlength: 2000, placeholder: 'e.g. the scan is unreadable' });
    const form = h('form.doc-reject', { hidden: true, novalidate: true },
      field(`Why is the ${d.document_name} rejected?`, reason, 'The client sees that a new copy is needed.'),
      h('div.form-actions', h('button.btn.btn-small', { type: 'button', on: { click: () => { form.hidden = true; } } }, 'Cancel'),
        h('button.btn.btn-small.btn-danger', { type: 'submit' }, 'Reject document')));
    const errors = fieldErrors(form, { notes: reason }, { invalid_notes: 'notes' });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) { errors.show({ message: 'Give a reason, so the client knows what to send instead' }, 'notes'); return; }
      update({ status: 'rejected', notes: reason.value.trim() }, `${d.document_name} rejected.`, errors);
    });
    actions.append(h('button.btn.btn-small.btn-danger', { type: 'button', on: { click: () => { form.hidden = false; reason.focus(); } } }, 'Reject…'));
    state.append(actions);
    row.append(form);
    return row;
  }
  state.append(actions);
  return row;
}

const EMAIL_TYPES = [['initial_reminder', 'Initial reminder'], ['follow_up_reminder', 'Follow-up reminder'], ['urgent_reminder', 'Urgent reminder']];

function reminderCard(c, outstanding, session, reload, flash) {
  const card = h('section.card.reminder', { 'aria-labelledby': 'reminder-title' }, h('h2#reminder-title', 'Send a reminder'), flash);
  if (!outstanding.length) {
    card.append(h('p.muted', 'Every requested document is in: there is nothing to remind the client about.'));
    return card;
  }
  const type = h('select#reminder-type', { name: 'email_type' }, EMAIL_TYPES.map(([v, label]) => h('option', { value: v }, label)));
  const now = h('input#reminder-now', { type: 'radio', name: 'reminder-when', value: 'now', checked: true });
  const later = h('input#reminder-later', { type: 'radio', name: 'reminder-when', value: 'later' });
  const at = h('input#reminder-at', { type: 'datetime-local', name: 'send_at', disabled: true });
  const sync = () => { at.disabled = !later.checked; if (later.checked) at.focus(); };
  now.addEventListener('change', sync);
  later.addEventListener('change', sync);
  const review = h('button.btn.btn-primary#reminder-review', { type: 'submit' }, 'Review reminder…');
  const form = h('form.reminder-form', { novalidate: true },
    h('div.form-grid',
      field('Kind', type),
      h('fieldset.field.when', h('legend', 'When'),
        h('label.check', now, ' Send now'), h('label.check', later, ' Schedule for'), at,
        h('p.hint', `In the firm's time zone (${timeZone()}). Quiet hours may move it later.`))),
    h('div.form-actions', review));
  const errors = fieldErrors(form, { send_at: at, email_type: type }, { invalid_send_at: 'send_at', send_at_in_past: 'send_at', invalid_email_type: 'email_type' });
  const confirm = h('div.confirm', { hidden: true });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    if (later.checked && !at.value) { errors.show({ message: 'Choose the date and time to send it' }, 'send_at'); return; }
    const sendAt = later.checked ? zonedToISO(at.value) : null;
    if (sendAt && new Date(sendAt) <= new Date()) { errors.show({ message: 'That time has passed; choose a later one or send now' }, 'send_at'); return; }
    review.disabled = true;
    try {
      const email = await get(`/v1/cases/${enc(c.case_id)}/reminder-preview${query({ email_type: type.value })}`);
      showConfirmation(email, sendAt);
    } catch (e) {
      errors.show(e);
    } finally {
      review.disabled = false;
    }
  });

  function showConfirmation(email, sendAt) {
    form.hidden = true;
    const label = EMAIL_TYPES.find(([v]) => v === email.email_type)?.[1] ?? email.email_type;
    const go = h('button.btn.btn-primary#reminder-send', { type: 'button' }, sendAt ? 'Approve and schedule' : 'Approve and send');
    const back = h('button.btn', { type: 'button' }, 'Back');
    const error = h('p.form-error', { role: 'alert', hidden: true });
    clear(confirm).append(
      h('p.confirm-lead', { role: 'status' }, h('strong', 'Nothing has been sent yet. '),
        'Check the email below exactly as the client will receive it; it goes out only when you approve it.'),
      h('dl.mail-fields.confirm-fields',
        h('div.fact', h('dt', 'To'), h('dd', email.recipient)),
        h('div.fact', h('dt', 'Subject'), h('dd', email.subject)),
        h('div.fact', h('dt', 'Kind'), h('dd', label)),
        h('div.fact', h('dt', 'When'), h('dd', sendAt ? `${fmtDateTime(sendAt)} (${timeZone()})` : 'Now')),
        h('div.fact', h('dt', 'Approval'), h('dd', `You (${session?.key_name ?? 'this key'}) approve it by sending.`))),
      confirmBody(email),
      error, h('div.form-actions', back, go));
    confirm.hidden = false;
    go.focus();
    back.addEventListener('click', () => { confirm.hidden = true; form.hidden = false; review.focus(); });
    go.addEventListener('click', async () => {
      go.disabled = true;
      back.disabled = true;
      try {
        const comm = await post('/v1/send-email', { case_id: c.case_id, recipient_email: email.recipient, email_type: email.email_type, send_at: sendAt ?? undefined });
        let message = null;
        try { message = comm.message_id ? await get(`/v1/messages/${enc(comm.message_id)}`) : null; } catch { message = null; }
        toast(sendAt ? 'Reminder scheduled.' : 'Reminder sent.', 'success');
        reload(sentSummary(comm, message, session));
      } catch (e) {
        error.textContent = humanize(e.message);
        error.hidden = false;
        go.disabled = false;
        back.disabled = false;
      }
    });
  }
  card.append(form, confirm);
  return card;
}

/** The email body as the client will see it: the HTML part in a sandboxed frame, or the text. */
function confirmBody(email) {
  if (!email.html) return h('div.message-text.confirm-body', email.body);
  return h('div.confirm-mail', formattedMail(email.html, email.body, `Email to ${email.recipient}`, 'div.message-text.confirm-body'));
}

/** After sending: approved by whom, and when it goes out (and why it waits). */
function sentSummary(comm, message, session) {
  const when = message ? waitingText(message) : 'Queued for delivery.';
  return h('div.sent-summary', { role: 'status' },
    h('p', h('strong', 'Approved and queued. '), `Approved by ${session?.key_name ?? 'you'} in the console.`),
    h('p', when),
    comm.message_id ? h('p', h('a', { href: `#/messages/${comm.message_id}` }, 'Follow the message')) : null);
}

function uploadLinkCard(c) {
  const out = h('div.upload-link', { hidden: true });
  const button = h('button.btn#upload-link-create', { type: 'button' }, 'Create upload link');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const link = await post(`/v1/cases/${enc(c.case_id)}/upload-link`);
      const input = h('input#upload-link-url', { type: 'text', readonly: true, value: link.url, 'aria-label': 'Upload link' });
      const copy = h('button.btn.btn-small#upload-link-copy', { type: 'button', on: { click: async () => {
        const ok = await copyText(link.url, input);
        toast(ok ? 'Link copied.' : 'Select the link and copy it.', ok ? 'success' : 'error');
        if (ok) copy.textContent = 'Copied';
      } } }, 'Copy');
      clear(out).append(h('div.copy-row', input, copy), h('p.hint', 'Valid until ', timeEl(link.expires_at), '. The client needs no account or password.'));
      out.hidden = false;
    } catch (e) {
      toast(humanize(e.message), 'error');
    } finally {
      button.disabled = false;
    }
  });
  return h('section.card', h('h2', 'Upload link'),
    h('p.muted.small', 'A private link where the client uploads the outstanding documents.'), button, out);
}

function closeButton(c, reload) {
  const button = h('button.btn.btn-danger#case-close', { type: 'button' }, 'Close case');
  button.addEventListener('click', () => {
    const bar = h('div.confirm-close', { role: 'alertdialog', 'aria-label': 'Close this case?' },
      h('span', `Close case ${c.case_number}? No more reminders go out for it.`),
      h('button.btn.btn-small', { type: 'button', on: { click: () => { bar.replaceWith(button); button.focus(); } } }, 'Keep open'),
      h('button.btn.btn-small.btn-danger#case-close-confirm', { type: 'button', on: { click: async (ev) => {
        ev.target.disabled = true;
        try {
          await post(`/v1/cases/${enc(c.case_id)}/close`);
          toast(`Case ${c.case_number} closed.`, 'success');
          reload();
        } catch (e) {
          toast(humanize(e.message), 'error');
          ev.target.disabled = false;
        }
      } } }, 'Close case'));
    button.replaceWith(bar);
    bar.querySelector('.btn-danger').focus();
  });
  return button;
}
