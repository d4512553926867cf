// The customer chat page: a visitor talks with the business's assistant. Answers stream in with
// their numbered sources; hand-off notices and a person's replies appear in place. Text from the
// server only ever becomes text nodes (the console's Markdown renderer builds DOM nodes).

import { ApiError, streamEvents } from '/console/api.js';
import { renderMarkdown } from '/console/markdown.js';

const meta = document.querySelector('meta[name="parley-chat"]');
const params = new URLSearchParams(location.search);
const slug = meta.dataset.slug;
const widgetKey = params.get('key') || meta.dataset.key;
const api = `/c/${encodeURIComponent(slug)}/api`;
const storageKey = `parley-chat:${slug}`;

const log = document.getElementById('log');
const statusLine = document.getElementById('status');
const form = document.getElementById('composer');
const input = document.getElementById('message');
const sendButton = document.getElementById('send');
const attachButton = document.getElementById('attach');
const fileInput = document.getElementById('file');
const progress = document.getElementById('progress');
const attachmentList = document.getElementById('attachments');
const restartButton = document.getElementById('restart');

const storage = (() => { try { return window.sessionStorage; } catch { return null; } })();
let token = storage?.getItem(storageKey) ?? null;
let busy = false;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function scrollDown() { log.scrollTop = log.scrollHeight; }
function setStatus(text) { statusLine.textContent = text ?? ''; }

function notice(text, kind) {
  const n = el('p', `notice${kind ? ` ${kind}` : ''}`, text);
  log.append(n);
  scrollDown();
  return n;
}

function userBubble(text) {
  const b = el('div', 'msg msg-user');
  b.append(el('span', 'visually-hidden', 'You: '), document.createTextNode(text));
  log.append(b);
  scrollDown();
}

function personBubble(name, text) {
  const b = el('div', 'msg msg-person');
  b.append(el('span', 'who', name || 'A member of staff'));
  b.append(renderMarkdown(text ?? ''));
  log.append(b);
  scrollDown();
}

/** An assistant answer: its streamed text (Markdown) with `[n]` linked to its sources list. */
class Answer {
  constructor(id) {
    this.id = String(id ?? Math.random()).replace(/[^a-z0-9-]/gi, '');
    this.text = '';
    this.citations = new Map();
    this.element = el('div', 'msg msg-assistant');
    this.element.setAttribute('aria-busy', 'true');
    this.body = el('div', 'body');
    this.sources = el('ol', 'sources');
    this.sources.hidden = true;
    this.sources.setAttribute('aria-label', 'Sources');
    this.element.append(el('span', 'visually-hidden', 'Assistant: '), this.body, this.sources);
    log.append(this.element);
    this.pending = false;
  }

  append(text) { this.text += text; this.schedule(); }
  replace(text) { this.text = text; this.schedule(); }

  cite(c) {
    const n = Number(c.n);
    if (!Number.isInteger(n) || n < 1) return;
    this.citations.set(n, c);
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  render() {
    const fragment = renderMarkdown(this.text);
    this.linkCitations(fragment);
    this.body.replaceChildren(fragment);
    this.sources.replaceChildren();
    for (const n of [...this.citations.keys()].sort((a, b) => a - b)) {
      const c = this.citations.get(n);
      const li = el('li');
      li.id = `src-${this.id}-${n}`;
      li.value = n;
      const title = c.document_title || 'Document';
      const path = Array.isArray(c.heading_path) ? c.heading_path.filter(Boolean).join(' › ') : (c.heading_path || '');
      li.append(el('strong', '', title));
      if (path) li.append(document.createTextNode(` — ${path}`));
      if (c.snippet) li.append(el('span', 'snippet', `“${c.snippet}”`));
      this.sources.append(li);
    }
    this.sources.hidden = this.citations.size === 0;
    scrollDown();
  }

  /** Turns `[n]` in text nodes into links to source n when the answer has it. */
  linkCitations(root) {
    if (this.citations.size === 0) return;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) if (/\[\d+\]/.test(walker.currentNode.nodeValue)) nodes.push(walker.currentNode);
    for (const node of nodes) {
      if (node.parentElement?.closest('a, code, pre')) continue;
      const parts = node.nodeValue.split(/(\[\d+\])/);
      const out = document.createDocumentFragment();
      for (const part of parts) {
        const m = part.match(/^\[(\d+)\]$/);
        const n = m ? Number(m[1]) : 0;
        if (m && this.citations.has(n)) {
          const a = el('a', 'cite', `[${n}]`);
          a.href = `#src-${this.id}-${n}`;
          a.setAttribute('aria-label', `Source ${n}: ${this.citations.get(n).document_title || 'document'}`);
          out.append(a);
        } else if (part) {
          out.append(document.createTextNode(part));
        }
      }
      node.replaceWith(out);
    }
  }

  done() { this.render(); this.element.setAttribute('aria-busy', 'false'); }
}

async function call(method, path, { body, headers = {}, signal } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`${api}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal, credentials: 'omit' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', 'The connection was lost. Check your network and try again.');
  }
  if (res.ok) return res.status === 204 ? null : res.json();
  throw await failure(res);
}

async function failure(res) {
  let code = 'error';
  let message = `The request failed (${res.status}).`;
  try {
    const data = await res.json();
    code = data?.error?.code ?? code;
    message = data?.error?.message ?? message;
  } catch { /* not JSON */ }
  if (res.status === 429) {
    const wait = res.headers.get('Retry-After');
    message = `You are sending messages too quickly. Please wait${wait ? ` ${wait} seconds` : ' a moment'} and try again.`;
  }
  return new ApiError(res.status, code, message);
}

function forget() {
  token = null;
  storage?.removeItem(storageKey);
  restartButton.hidden = true;
}

async function ensureConversation() {
  if (token) return;
  const started = await call('POST', '/sessions', { body: {}, headers: { 'X-Parley-Widget-Key': widgetKey } });
  token = started.visitor_token;
  storage?.setItem(storageKey, token);
  restartButton.hidden = false;
}

/** Runs this page follows (a message sent while a person has the conversation joins its run). */
const following = new Set();

/** Follows one run to its end, resuming after the last event when the connection drops. Text
 * after a hand-off or a person's reply starts a new answer below them. */
async function follow(workflowId) {
  if (following.has(workflowId)) return;
  following.add(workflowId);
  let answer = null;
  let part = 0;
  const current = () => { answer ??= new Answer(`${workflowId}-${part++}`); return answer; };
  const close = () => {
    if (!answer) return;
    answer.done();
    if (!answer.text.trim()) answer.element.remove();
    answer = null;
  };
  let lastId = null;
  let finished = false;
  let attempts = 0;
  const handle = ({ id, event: type, data }) => {
    if (id) lastId = id;
    switch (type) {
      case 'text_delta': current().append(data.text ?? ''); setStatus(''); break;
      case 'citation': current().cite(data); break;
      case 'tool_start': setStatus('Looking that up…'); break;
      case 'escalation':
      case 'handoff': close(); notice(data.message || 'A person will join this conversation shortly.'); break;
      case 'human_message': close(); personBubble(data.name, data.text); break;
      case 'customer_message': break; // the visitor's own words, already shown
      case 'handback': close(); notice('You are back with the assistant.'); break;
      case 'workflow_completed':
        if (!answer?.text.trim() && data.final_response && part === 0) current().replace(data.final_response);
        finished = true;
        break;
      case 'workflow_error':
        close();
        notice(data.error_message || 'Something went wrong while answering. Please try again.', 'error');
        finished = true;
        break;
      default: break;
    }
  };
  while (!finished && attempts < 6) {
    try {
      await streamEvents('GET', `${api}/stream?workflow_id=${encodeURIComponent(workflowId)}`, {
        lastEventId: lastId, headers: { Authorization: `Bearer ${token}` }, onOpen: () => { attempts = 0; }, onEvent: handle,
      });
      if (!finished) attempts++;
    } catch (e) {
      if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 429) { notice(e.message, 'error'); break; }
      attempts++;
      setStatus('Reconnecting…');
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempts, 8000)));
    }
  }
  close();
  following.delete(workflowId);
  setStatus('');
}

async function send(text) {
  if (busy || !text.trim()) return;
  busy = true;
  sendButton.disabled = true;
  userBubble(text);
  input.value = '';
  setStatus('Sending…');
  try {
    await ensureConversation();
    let run;
    try {
      run = await call('POST', '/messages', { body: { text } });
    } catch (e) {
      if (e.status !== 401) throw e;
      forget();
      await ensureConversation();
      run = await call('POST', '/messages', { body: { text } });
    }
    attachmentList.replaceChildren();
    if (!following.has(run.workflow_id)) setStatus('The assistant is answering…');
    follow(run.workflow_id);
  } catch (e) {
    notice(e.message || 'The message could not be sent.', 'error');
    setStatus('');
  } finally {
    busy = false;
    sendButton.disabled = false;
    input.focus();
  }
}

function upload(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${api}/attachments`);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('X-Filename', encodeURIComponent(file.name));
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) progress.value = Math.round((ev.loaded / ev.total) * 100); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data?.error?.code ?? 'error', data?.error?.message ?? `The upload failed (${xhr.status}).`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'The upload was interrupted.'));
    xhr.send(file);
  });
}

async function attach(file) {
  if (!file) return;
  attachButton.disabled = true;
  progress.hidden = false;
  progress.value = 0;
  setStatus(`Uploading ${file.name}…`);
  try {
    await ensureConversation();
    const a = await upload(file);
    const chip = el('span', '', `📎 ${a.filename}`);
    chip.title = 'Sent with your next message';
    attachmentList.append(chip);
    setStatus(`${a.filename} is attached; it goes with your next message.`);
  } catch (e) {
    notice(e.message, 'error');
    setStatus('');
  } finally {
    progress.hidden = true;
    attachButton.disabled = false;
    fileInput.value = '';
  }
}

async function restore() {
  if (!token) return;
  try {
    const history = await call('GET', '/messages');
    restartButton.hidden = false;
    for (const m of history.data ?? []) {
      if (m.role === 'user') userBubble(m.content);
      else { const a = new Answer(m.workflow_id); a.replace(m.content); a.done(); }
    }
  } catch (e) {
    if (e.status === 401) forget();
  }
}

form.addEventListener('submit', (ev) => { ev.preventDefault(); send(input.value); });
input.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); form.requestSubmit(); }
});
attachButton.addEventListener('click', () => fileInput.click());
fileInput.addEventListener('change', () => attach(fileInput.files?.[0]));
restartButton.addEventListener('click', () => { forget(); log.replaceChildren(); greet(); input.focus(); });

function greet() {
  if (meta.dataset.greeting) { const a = new Answer('greeting'); a.replace(meta.dataset.greeting); a.done(); }
}

greet();
restore();
