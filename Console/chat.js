// Chat: conversations on the left, the answer streaming in the middle, the run's timeline beside it.

import { api, get, post, query, streamEvents } from './api.js';
import { renderMarkdown } from './markdown.js';
import { Timeline } from './timeline.js';
import { h, clear, empty, errorState, loading, timeEl, toast, pager } from './ui.js';

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

export function chatView(container, params, ctx) {
  const canDecide = ctx.session.role === 'admin' || ctx.session.role === 'operator';
  const timeline = new Timeline({ canDecide });
  const life = new AbortController();
  let session = null;
  let run = null;

  // Conversations.
  const sessionList = h('ul.session-list', { 'aria-label': 'Conversations' });
  const newButton = h('button.btn.btn-primary.btn-block', { type: 'button', on: { click: () => openSession(null) } }, 'New conversation');
  const sessionsPane = h('aside.chat-sessions', { 'aria-label': 'Conversations' },
    h('div.pane-head', h('h2', 'Conversations')), newButton, sessionList);

  // The conversation.
  const title = h('h1.chat-title', 'New conversation');
  const renameButton = h('button.btn.btn-quiet.btn-small', { type: 'button', hidden: true, on: { click: rename } }, 'Rename');
  const log = h('div.chat-log', { role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  const banner = h('div.banner', { role: 'status', hidden: true });
  const input = h('textarea#chat-input', {
    rows: 2, placeholder: 'Ask Parley… (Enter sends, Shift+Enter for a new line)', 'aria-describedby': 'chat-hint',
    on: { keydown: (ev) => { if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); form.requestSubmit(); } } },
  });
  const sendButton = h('button.btn.btn-primary', { type: 'submit' }, 'Send');
  const stopButton = h('button.btn.btn-danger', { type: 'button', hidden: true, on: { click: stop } }, 'Stop');
  const form = h('form.composer', { on: { submit: (ev) => { ev.preventDefault(); send(); } } },
    h('label.visually-hidden', { for: 'chat-input' }, 'Message'),
    input,
    h('div.composer-actions', h('p#chat-hint.hint', 'Enter sends · Shift+Enter adds a line'), stopButton, sendButton));
  const conversation = h('section.chat-main', { 'aria-labelledby': 'chat-title' },
    h('div.chat-head', title, renameButton), banner, log, form);
  title.id = 'chat-title';

  // The timeline.
  const timelineEmpty = empty('No run yet', 'Each step the assistant takes appears here as it happens.');
  const timelinePane = h('aside.chat-timeline', { 'aria-label': 'Timeline' },
    h('div.pane-head', h('h2', 'Timeline')), timelineEmpty, timeline.element);

  clear(container).append(h('div.chat', sessionsPane, conversation, timelinePane));

  const sessionsPager = pager(sessionList,
    (before) => get(`/v1/sessions${query({ limit: 30, before })}`),
    (s) => sessionItem(s));
  sessionsPane.append(sessionsPager.element);
  sessionsPager.start();

  function sessionLabel(s) { return s.title || 'Untitled conversation'; }

  function sessionItem(s) {
    const button = h('button.session-item', { type: 'button', dataset: { sessionId: s.session_id }, on: { click: () => openSession(s) } },
      h('span.session-name', sessionLabel(s)), h('span.session-date', timeEl(s.updated_at)));
    if (session?.session_id === s.session_id) button.setAttribute('aria-current', 'true');
    return h('li', button);
  }

  function markCurrent() {
    for (const b of sessionList.querySelectorAll('.session-item')) {
      if (b.dataset.sessionId === session?.session_id) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
  }

  function showTitle() {
    title.textContent = session ? sessionLabel(session) : 'New conversation';
    renameButton.hidden = !session;
  }

  function bubble(role, text, { markdown = role === 'assistant' } = {}) {
    const body = h('div.bubble-body');
    if (markdown) body.append(renderMarkdown(text)); else body.append(text);
    const el = h('article.bubble', { class: `bubble-${role}`, dataset: { role } },
      h('header.bubble-who', role === 'user' ? 'You' : role === 'staff' ? 'Staff' : 'Parley'), body);
    log.append(el);
    log.scrollTop = log.scrollHeight;
    return { el, body };
  }

  async function openSession(s) {
    if (run && !run.done) run.controller.abort();
    run = null;
    session = s;
    setRunning(false);
    showTitle();
    markCurrent();
    timeline.reset();
    timelineEmpty.hidden = false;
    clear(log);
    history.replaceState(null, '', s ? `#/chat/${s.session_id}` : '#/chat');
    if (!s) {
      log.append(empty('Start a conversation', 'Ask about your workspace, clients or messages. Try “give me an account overview”.'));
      input.focus();
      return;
    }
    log.append(loading('Loading conversation…'));
    try {
      const page = await get(`/v1/sessions/${encodeURIComponent(s.session_id)}/messages?limit=500`, { signal: life.signal });
      clear(log);
      if (page.data.length === 0) log.append(empty('No messages yet', 'Send the first message below.'));
      for (const m of page.data) bubble(m.role === 'user' || m.role === 'staff' ? m.role : 'assistant', m.content, { markdown: m.role === 'assistant' });
      const last = [...page.data].reverse().find((m) => m.workflow_id);
      if (last) await showRun(last.workflow_id, page.data[page.data.length - 1]?.role === 'user');
    } catch (e) {
      if (e.name !== 'AbortError') clear(log).append(errorState(e, () => openSession(s)));
    }
  }

  /** Rebuilds the timeline of a stored run; follows it live if it is still going. */
  async function showRun(workflowId, awaitingAnswer) {
    const [wf, events] = await Promise.all([
      get(`/v1/workflows/${encodeURIComponent(workflowId)}`, { signal: life.signal }),
      get(`/v1/workflows/${encodeURIComponent(workflowId)}/events`, { signal: life.signal }),
    ]);
    timeline.reset();
    timelineEmpty.hidden = true;
    for (const e of events.data) timeline.add(e);
    timeline.markDecided(wf.approvals);
    if (!TERMINAL.has(wf.status)) {
      run = newRun(awaitingAnswer ? bubble('assistant', '') : null);
      run.workflowId = workflowId;
      run.lastSeq = events.data.length ? events.data[events.data.length - 1].seq : 0;
      for (const e of events.data) if (e.type === 'text_delta') run.text += e.text ?? '';
      paintAnswer();
      setRunning(true);
      await follow();
      setRunning(false);
    }
  }

  function newRun(answer) {
    return { workflowId: null, lastSeq: 0, done: false, stopped: false, text: '', status: 'Working…', answer, controller: new AbortController() };
  }

  function setRunning(on) {
    sendButton.disabled = on;
    stopButton.hidden = !on;
    input.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  let paintPending = false;
  function paintAnswer(final) {
    if (!run?.answer) return;
    if (final !== undefined) {
      clear(run.answer.body).append(renderMarkdown(final));
      run.answer.el.classList.remove('streaming');
      return;
    }
    if (paintPending) return;
    paintPending = true;
    requestAnimationFrame(() => {
      paintPending = false;
      if (!run?.answer) return;
      if (run.text) clear(run.answer.body).append(renderMarkdown(run.text));
      else clear(run.answer.body).append(h('p.bubble-status', run.status));
      if (!run.done) run.answer.el.classList.add('streaming');
      log.scrollTop = log.scrollHeight;
    });
  }

  function onEvent({ data: e }) {
    if (!run || e.type === 'heartbeat') return;
    run.workflowId ??= e.workflow_id;
    if (typeof e.seq === 'number') {
      if (e.seq <= run.lastSeq) return;  // already shown (a replay after reconnecting)
      run.lastSeq = e.seq;
    }
    timelineEmpty.hidden = true;
    timeline.add(e);
    if (e.type === 'text_delta') {
      run.text += e.text ?? '';
      paintAnswer();
    } else if (e.type === 'approval_required') {
      banner.hidden = false;
      banner.className = 'banner banner-info';
      banner.textContent = 'Waiting for approval: review the request in the timeline.';
      run.status = 'Waiting for approval…';
      paintAnswer();
    } else if (e.type === 'handoff') {
      // Handed to a person: their replies arrive in this stream (human_message).
      banner.hidden = false;
      banner.className = 'banner banner-info';
      banner.textContent = e.message ?? 'A person will reply here.';
      run.status = 'Waiting for a person…';
      paintAnswer();
    } else if (e.type === 'human_message') {
      bubble('staff', e.text ?? '', { markdown: false });
    } else if (e.type === 'handback') {
      banner.hidden = true;
      run.answer = bubble('assistant', '');
      run.text = '';
      run.status = 'Working…';
      paintAnswer();
    } else if (e.type === 'approval_resolved') {
      banner.hidden = true;
      run.status = 'Working…';
      paintAnswer();
    } else if (e.type === 'workflow_completed') {
      run.done = true;
      paintAnswer(e.final_response ?? run.text);
    } else if (e.type === 'workflow_error') {
      run.done = true;
      const partial = e.partial_response ? `${e.partial_response}\n\n` : '';
      paintAnswer(`${partial}_${e.error_message}${e.recovery_suggestion ? ` — ${e.recovery_suggestion}` : ''}_`);
      run.answer?.el.classList.add('bubble-error');
    }
  }

  async function send() {
    const text = input.value.trim();
    if (!text || (run && !run.done)) return;
    if (!session) {
      try {
        session = await post('/v1/sessions', { title: text.length > 60 ? `${text.slice(0, 57)}…` : text });
      } catch (e) {
        toast(e.message, 'error');
        return;
      }
      sessionList.prepend(sessionItem(session));
      history.replaceState(null, '', `#/chat/${session.session_id}`);
      showTitle();
      markCurrent();
    }
    input.value = '';
    log.querySelector('.state')?.remove();
    bubble('user', text, { markdown: false });
    timeline.reset();
    run = newRun(bubble('assistant', ''));
    paintAnswer();
    setRunning(true);
    const current = run;
    try {
      await streamEvents('POST', '/v1/chat', {
        body: { message: text, session_id: session.session_id }, signal: current.controller.signal, onEvent,
      });
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (!current.workflowId || e.code !== 'network_error') {
        current.done = true;
        paintAnswer(`_${e.message}_`);
        current.answer.el.classList.add('bubble-error');
      }
    }
    if (run === current) {
      await follow();
      setRunning(false);
    }
  }

  /** Reconnects to the run's event stream after the last event seen, until it ends. */
  async function follow() {
    const current = run;
    let delay = 500;
    while (current && !current.done && run === current && !life.signal.aborted) {
      try {
        await streamEvents('GET', `/v1/workflows/${encodeURIComponent(current.workflowId)}/events`, {
          lastEventId: current.lastSeq, signal: current.controller.signal, onEvent,
          onOpen: () => { if (banner.dataset.kind === 'reconnect') { banner.hidden = true; banner.dataset.kind = ''; } },
        });
        delay = 500;
      } catch (e) {
        if (e.name === 'AbortError') return;
        if (e.status >= 400 && e.status < 500) {
          toast(e.message, 'error');
          return;
        }
        banner.hidden = false;
        banner.className = 'banner banner-warn';
        banner.dataset.kind = 'reconnect';
        banner.textContent = 'Connection lost. Reconnecting…';
        await sleep(delay, current.controller.signal);
        delay = Math.min(delay * 2, 10000);
      }
    }
    if (banner.dataset.kind === 'reconnect') banner.hidden = true;
  }

  async function stop() {
    if (!run?.workflowId) return;
    stopButton.disabled = true;
    try {
      await post(`/v1/workflows/${encodeURIComponent(run.workflowId)}/cancel`);
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      stopButton.disabled = false;
    }
  }

  function rename() {
    if (!session) return;
    const field = h('input.title-input', { type: 'text', value: session.title ?? '', maxlength: 200, 'aria-label': 'Conversation name' });
    const save = async () => {
      try {
        session = await api('PATCH', `/v1/sessions/${encodeURIComponent(session.session_id)}`, { title: field.value });
        const item = sessionList.querySelector(`[data-session-id="${CSS.escape(session.session_id)}"] .session-name`);
        if (item) item.textContent = sessionLabel(session);
      } catch (e) {
        toast(e.message, 'error');
      }
      editor.replaceWith(title);
      showTitle();
      renameButton.focus();
    };
    const editor = h('form.rename', { on: { submit: (ev) => { ev.preventDefault(); save(); } } }, field,
      h('button.btn.btn-small.btn-primary', { type: 'submit' }, 'Save'),
      h('button.btn.btn-small', { type: 'button', on: { click: () => { editor.replaceWith(title); renameButton.hidden = false; } } }, 'Cancel'));
    title.replaceWith(editor);
    renameButton.hidden = true;
    field.focus();
    field.select();
  }

  const initial = params[0];
  if (initial) get(`/v1/sessions/${encodeURIComponent(initial)}`).then(openSession, () => openSession(null));
  else openSession(null);

  return () => { life.abort(); run?.controller.abort(); };
}
