// Cases (legal pack). Until the pack is installed its routes answer 404 and the view says so.

import { get, post, query } from '/console/api.js';
import { h, clear, badge, empty, errorState, field, load, loading, pageHeader, pager, timeEl } from '/console/ui.js';

const STATUSES = ['OPEN', 'PENDING', 'CLOSED'];
const enc = encodeURIComponent;

function notInstalled(e) { return e?.status === 404 && (e.code === 'route_not_found' || e.code === 'not_found'); }

function notInstalledState() {
  return empty('Cases are not installed', 'The legal pack adds client cases, requested documents and uploads. Once it is installed, they appear here.');
}

export function casesView(container, params) {
  if (params[0]) return caseDetail(container, params[0]);
  const name = h('input#case-search', { type: 'search', placeholder: 'Client name, e.g. Bob Smith', autocomplete: 'off' });
  const status = h('select#case-status', h('option', { value: '' }, 'All statuses'), STATUSES.map((s) => h('option', { value: s }, s.toLowerCase())));
  status.value = 'OPEN';
  const results = h('div.results');
  clear(container).append(pageHeader('Cases', 'Client matters, the documents requested from them and what was sent.'),
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
          if (pending) { const page = pending; pending = null; return { data: page.cases, next_cursor: page.next_before }; }
          const page = await get(`/v1/cases${query({ status: status.value, limit: 25, before })}`);
          return { data: page.cases, next_cursor: page.next_before };
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

function caseDetail(container, id) {
  const body = h('div');
  clear(container).append(h('nav.breadcrumb', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/cases' }, 'Cases'), ' / ', h('span', 'Case')), body);
  load(body, () => get(`/v1/cases/${enc(id)}`).catch((e) => { if (notInstalled(e) && e.code === 'route_not_found') return null; throw e; }), (c) => {
    if (!c) { body.append(notInstalledState()); return; }
    const section = (title, items, render, none) => h('section.card', h('h2', title),
      items?.length ? h('ul.plain.rows', items.map(render)) : h('p.muted', none));
    body.append(pageHeader(c.client_name, c.case_number ? `Case ${c.case_number}` : c.case_id, badge(c.status)),
      h('section.card', h('dl.facts',
        h('div.fact', h('dt', 'Email'), h('dd', c.client_email ?? '—')), h('div.fact', h('dt', 'Phone'), h('dd', c.client_phone ?? '—')),
        h('div.fact', h('dt', 'Opened'), h('dd', timeEl(c.created_at))), h('div.fact', h('dt', 'Updated'), h('dd', timeEl(c.updated_at))))),
      section('Requested documents', c.requested_documents, (d) => h('li.row',
        h('div', h('strong', d.document_name), d.description ? h('p.muted.small', d.description) : null, d.notes ? h('p.small', d.notes) : null),
        h('div', badge(d.status), d.completed_at ? h('div.muted.small', timeEl(d.completed_at)) : null)), 'No documents requested.'),
      section('Communications', c.communications, (m) => h('li.row',
        h('div', h('strong', m.subject || (m.channel === 'sms' ? 'Text message' : 'Email')), h('p.muted.small', `${m.channel} to ${m.recipient}`),
          m.body ? h('p.message-text.small', m.body) : null),
        h('div', badge(m.delivery_status ?? 'unknown'), h('div.muted.small', timeEl(m.sent_at)),
          m.message_id ? h('a.small', { href: `#/messages/${m.message_id}` }, 'Message') : null)), 'Nothing sent yet.'),
      section('Uploads', c.uploads, (u) => h('li.row',
        h('div', h('strong', u.file_name), h('p.muted.small', `${u.content_type} · ${Math.max(1, Math.round(u.size_bytes / 1024))} KB`)),
        h('div.muted.small', timeEl(u.uploaded_at))), 'No uploads yet.'));
  });
}
