// Knowledge (support pack): the knowledge base's collections, its documents with their status
// and chunk counts, batch progress, and a search box showing ranked passages with their heading
// paths. Text goes in through textContent only (h's string children).

import { get, post, query } from '/console/api.js';
import { h, clear, badge, empty, errorState, field, load, loading, pageHeader, pager, timeEl, toast } from '/console/ui.js';

const enc = encodeURIComponent;
const canAct = (session) => ['admin', 'operator', 'service'].includes(session?.role);

export function knowledgeView(container, params, { session } = {}) {
  if (params[0] === 'documents' && params[1]) return documentDetail(container, params[1]);
  if (params[0] === 'batches' && params[1]) return batchDetail(container, params[1]);

  const q = h('input#kb-query', { type: 'search', placeholder: 'Ask or search, e.g. how do refunds work?', autocomplete: 'off' });
  const mode = h('select#kb-mode', ['hybrid', 'bm25', 'vector'].map((m) => h('option', { value: m }, m)));
  const collection = h('select#kb-collection', h('option', { value: '' }, 'All collections'));
  const results = h('div.results#kb-results');
  const collections = h('div#kb-collections');
  const documents = h('div#kb-documents');
  const newCollection = canAct(session) ? collectionForm(() => refresh()) : null;

  clear(container).append(
    pageHeader('Knowledge', 'The documents the agent answers from, cut into passages and searched by words and meaning.'),
    h('form.filters', { role: 'search', on: { submit: (ev) => { ev.preventDefault(); search(); } } },
      field('Search', q), field('Collection', collection), field('Mode', mode),
      h('div.field.field-actions', h('button.btn.btn-primary#kb-search', { type: 'submit' }, 'Search'))),
    results,
    h('h2', 'Collections'), collections, newCollection,
    h('h2', 'Documents'), documents);

  async function search() {
    const text = q.value.trim();
    if (!text) return;
    clear(results).append(loading('Searching…'));
    try {
      const r = await post('/v1/rag/search', { query: text, k: 10, mode: mode.value, collection: collection.value || undefined });
      clear(results);
      if (r.note) results.append(h('p.muted.small#kb-note', r.note));
      if (!r.results.length) { results.append(empty('Nothing relevant', 'No passage passes the relevance threshold for this search.')); return; }
      const list = h('ol.kb-passages');
      for (const p of r.results) {
        list.append(h('li.card.kb-passage',
          h('p.small', h('strong', p.document_title), p.heading_path ? ` — ${p.heading_path}` : '', ' ',
            h('span.muted', `score ${p.score.toFixed(4)}`, p.bm25 != null ? ` · bm25 ${p.bm25.toFixed(2)}` : '',
              p.similarity != null ? ` · similarity ${p.similarity.toFixed(3)}` : '')),
          h('p.kb-snippet', p.snippet),
          h('a.small', { href: `#/knowledge/documents/${enc(p.document_id)}` }, 'Open the document')));
      }
      results.append(h('p.muted.small', `${r.results.length} passage(s), mode ${r.mode}`), list);
    } catch (e) {
      clear(results).append(errorState(e));
    }
  }

  function refresh() {
    load(collections, () => get('/v1/rag/collections'), (r) => {
      for (const c of r.data) {
        if (![...collection.options].some((o) => o.value === c.name)) collection.append(h('option', { value: c.name }, c.name));
      }
      if (!r.data.length) { collections.append(empty('No collections', 'Create one, then add documents with POST /v1/rag/documents or `parley seed support`.')); return; }
      const tbody = h('tbody');
      for (const c of r.data) tbody.append(h('tr', h('td', c.name), h('td', c.description ?? ''), h('td', String(c.document_count)), h('td', timeEl(c.created_at))));
      collections.append(h('div.table-scroll', h('table', h('thead', h('tr', h('th', 'Name'), h('th', 'Description'), h('th', 'Documents'), h('th', 'Created'))), tbody)));
    });
    const tbody = h('tbody#kb-document-rows');
    const table = h('div.table-scroll', h('table', h('thead', h('tr', h('th', 'Title'), h('th', 'Collection'), h('th', 'Status'), h('th', 'Chunks'),
      h('th', 'Vectors'), h('th', 'Tags'), h('th', 'Updated'))), tbody));
    clear(documents).append(table);
    const p = pager(tbody, (before) => get(`/v1/rag/documents${query({ limit: 25, before })}`), (d) => h('tr',
      h('td', h('a', { href: `#/knowledge/documents/${enc(d.id)}` }, d.title)), h('td', d.collection), h('td', badge(d.status)),
      h('td', String(d.chunk_count)), h('td', d.embedding === 'none' ? '—' : badge(d.embedding)), h('td', d.tags.join(', ')), h('td', timeEl(d.updated_at))),
    { emptyState: empty('No documents', 'Documents appear here once added.') });
    documents.append(p.element);
    p.start();
  }
  refresh();
}

function collectionForm(done) {
  const name = h('input#kb-new-collection', { type: 'text', placeholder: 'help', maxlength: 100, required: true });
  return h('form.inline-form', { on: { submit: async (ev) => {
    ev.preventDefault();
    try {
      await post('/v1/rag/collections', { name: name.value.trim() });
      toast(`Collection ${name.value.trim()} created`, 'success');
      name.value = '';
      done();
    } catch (e) { toast(e.message, 'error'); }
  } } }, field('New collection', name), h('button.btn', { type: 'submit' }, 'Create'));
}

function documentDetail(container, id) {
  load(container, () => get(`/v1/rag/documents/${enc(id)}`), (r) => {
    const d = r.document;
    container.append(pageHeader(d.title, `${d.collection} · ${d.format} · ${d.chunk_count} passage(s) · ${r.embedded_chunks} with vectors`,
      h('a.btn', { href: '#/knowledge' }, 'Back')),
    d.error ? h('p.state-error', d.error) : null,
    d.embedding === 'pending' ? h('p.small.muted', 'Vectors are being made in the background; keyword search finds this document meanwhile.') : null,
    d.embedding_error ? h('p.state-error', `Embedding failed: ${d.embedding_error}`) : null,
    h('ol.kb-chunks', r.chunks.map((c) => h('li.card',
      h('p.small.muted', c.heading_path || '(before the first heading)', ` · ${c.word_count} words · offset ${c.start_offset}`),
      h('pre.kb-chunk-text', c.text)))));
  });
}

function batchDetail(container, id) {
  let timer = null;
  const render = () => load(container, () => get(`/v1/rag/batches/${enc(id)}`), (b) => {
    container.append(pageHeader('Batch', `${b.done} done, ${b.failed} failed, ${b.pending} pending of ${b.total}`, h('a.btn', { href: '#/knowledge' }, 'Back')),
      h('progress', { max: b.total, value: b.done + b.failed }),
      h('ul', b.items.map((i) => h('li', `${i.ordinal + 1}. ${i.title ?? ''} `, badge(i.status), i.error ? ` ${i.error}` : ''))));
    if (b.status !== 'finished') timer = setTimeout(render, 2000);
  });
  render();
  return () => clearTimeout(timer);
}
