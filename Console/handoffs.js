// Hand-offs: conversations handed to a person. The inbox on the left, the conversation (with the
// customer's messages live) in the middle with a reply box, the runs' tool calls beside it.

import { get, post, query, streamEvents } from './api.js';
import { renderMarkdown } from './markdown.js';
import { Timeline } from './timeline.js';
import { h, append, clear, badge, empty, errorState, loading, timeEl, toast, pager } from './ui.js';

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

export function handoffsView(container, params, ctx) {
  const canAct = ctx.session.role === 'admin' || ctx.session.role === 'operator';
  const life = new AbortController();
  let current = null;   // the open hand-off
  let follow = null;    // AbortController of its live stream
  let lastSeq = 0;

  // The inbox.
  const stateSelect = h('select#handoff-state', { 'aria-label': 'Show', on: { change: () => loadInbox() } },
    h('option', { value: 'open,claimed' }, 'Open'), h('option', { value: 'returned' }, 'Handed back'),
    h('option', { value: 'open,claimed,returned' }, 'All'));
  const inbox = h('ul.session-list.handoff-list', { 'aria-label': 'Hand-offs' });
  const inboxPane = h('aside.chat-sessions', { 'aria-label': 'Hand-off inbox' },
    h('div.pane-head', h('h2', 'Hand-offs')), stateSelect, inbox);
  let inboxPager = null;

  // The conversation.
  const title = h('h1#handoff-title.chat-title', 'Hand-offs');
  const meta = h('div.handoff-meta');
  const summary = h('div.handoff-summary', { hidden: true });
  const log = h('div.chat-log', { role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  const claimButton = h('button.btn', { type: 'button', hidden: true, on: { click: claim } }, 'Claim');
  const replyInput = h('textarea#handoff-reply', { rows: 2, placeholder: 'Reply to the customer… (Enter sends)', on: {
    keydown: (ev) => { if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); replyForm.requestSubmit(); } },
  } });
  const replyButton = h('button.btn.btn-primary', { type: 'submit' }, 'Send reply');
  const replyForm = h('form.composer', { hidden: true, on: { submit: (ev) => { ev.preventDefault(); reply(); } } },
    h('label.visually-hidden', { for: 'handoff-reply' }, 'Reply'), replyInput,
    h('div.composer-actions', h('p.hint', 'The customer sees your reply in their conversation'), replyButton));
  const noteInput = h('input#handoff-note', { type: 'text', maxlength: 2000, placeholder: 'Note for the assistant (optional)' });
  const backButton = h('button.btn.btn-primary', { type: 'submit' }, 'Hand back to the assistant');
  const backForm = h('form.handoff-back', { hidden: true, on: { submit: (ev) => { ev.preventDefault(); handBack(); } } },
    h('label.visually-hidden', { for: 'handoff-note' }, 'Note for the assistant'), noteInput, backButton);
  const main = h('section.chat-main', { 'aria-labelledby': 'handoff-title' },
    h('div.chat-head', title, claimButton), meta, summary, log, replyForm, backForm);

  const timeline = new Timeline({ canDecide: canAct });
  const timelinePane = h('aside.chat-timeline', { 'aria-label': 'Tool calls' }, h('div.pane-head', h('h2', 'Tool calls and sources')), timeline.element);

  clear(container).append(h('div.chat.handoffs', inboxPane, main, timelinePane));

  function inboxItem(x) {
    const button = h('button.session-item', { type: 'button', dataset: { handoffId: x.handoff_id }, on: { click: () => open(x.handoff_id) } },
      h('span.session-name', x.reason), h('span.session-date', badge(x.state), ' ', timeEl(x.created_at)));
    if (current?.handoff_id === x.handoff_id) button.setAttribute('aria-current', 'true');
    return h('li', button);
  }

  function loadInbox() {
    clear(inbox);
    inboxPager?.element.remove();
    inboxPager = pager(inbox, (before) => get(`/v1/handoffs${query({ limit: 30, before, state: stateSelect.value })}`, { signal: life.signal }),
      inboxItem, { emptyState: empty('Nobody is waiting', 'Conversations handed to a person appear here.') });
    inboxPane.append(inboxPager.element);
    inboxPager.start();
  }

  function bubble(role, text, who) {
    const body = h('div.bubble-body');
    if (role === 'assistant') body.append(renderMarkdown(text)); else body.append(text);
    const label = who ?? (role === 'user' ? 'Customer' : role === 'staff' ? 'Staff' : 'Parley');
    log.append(h('article.bubble', { class: `bubble-${role === 'staff' ? 'staff' : role}`, dataset: { role } }, h('header.bubble-who', label), body));
    log.scrollTop = log.scrollHeight;
  }

  function notice(text) {
    log.append(h('p.handoff-notice', { role: 'status' }, text));
    log.scrollTop = log.scrollHeight;
  }

  function paintHead() {
    title.textContent = current.reason;
    append(clear(meta), [badge(current.state), ` ${current.trigger.replace(/_/g, ' ')} · `, timeEl(current.created_at),
      current.claimed_by ? ` · taken by ${current.claimed_by}` : null]);
    const open = current.state !== 'returned';
    claimButton.hidden = !canAct || current.state !== 'open';
    replyForm.hidden = !canAct || !open;
    backForm.hidden = !canAct || !open;
    for (const b of inbox.querySelectorAll('.session-item')) {
      if (b.dataset.handoffId === current.handoff_id) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
    }
  }

  async function open(id) {
    follow?.abort();
    history.replaceState(null, '', `#/handoffs/${id}`);
    clear(log).append(loading('Loading conversation…'));
    timeline.reset();
    try {
      const detail = await get(`/v1/handoffs/${encodeURIComponent(id)}`, { signal: life.signal });
      current = detail;
      paintHead();
      const memory = detail.session?.summary ?? null;
      const staffSummary = detail.summary;
      append(clear(summary), [
        staffSummary ? h('p', h('strong', 'Summary: '), staffSummary) : null,
        memory ? h('p', h('strong', 'Memory of earlier turns: '), memory) : null]);
      summary.hidden = !staffSummary && !memory;
      clear(log);
      lastSeq = 0;
      if (detail.messages.length) {
        for (const m of detail.messages) bubble(m.role, m.content);
      }
      for (const run of detail.runs) {
        for (const e of run.events) {
          timeline.add(e);
          if (run.workflow_id === detail.workflow_id) lastSeq = Math.max(lastSeq, e.seq);
          if (!detail.messages.length) showEvent(e);
        }
      }
      if (!log.firstChild) log.append(empty('No messages', 'The customer has not written anything yet.'));
      if (detail.state !== 'returned') followLive(detail.workflow_id);
    } catch (e) {
      if (e.name !== 'AbortError') clear(log).append(errorState(e, () => open(id)));
    }
  }

  /** What an event adds to the conversation (live, or rebuilt when there is no session). */
  function showEvent(e) {
    switch (e.type) {
      case 'workflow_started': if (e.initial_prompt) bubble('user', e.initial_prompt); break;
      case 'customer_message': bubble('user', e.text); break;
      case 'human_message': bubble('staff', e.text, e.name ? `${e.name} (staff)` : 'Staff'); break;
      case 'handoff': notice(`Handed to a person: ${e.reason}`); break;
      case 'handback': notice(e.note ? `Handed back to the assistant (note: ${e.note})` : 'Handed back to the assistant'); break;
      case 'workflow_completed': if (e.final_response) bubble('assistant', e.final_response); break;
      default: break;
    }
  }

  async function followLive(workflowId) {
    const controller = new AbortController();
    follow = controller;
    let delay = 500;
    while (!controller.signal.aborted && !life.signal.aborted) {
      try {
        let ended = false;
        await streamEvents('GET', `/v1/workflows/${encodeURIComponent(workflowId)}/events`, {
          lastEventId: lastSeq, signal: controller.signal,
          onEvent: ({ data: e }) => {
            if (e.type === 'heartbeat' || typeof e.seq !== 'number' || e.seq <= lastSeq) return;
            lastSeq = e.seq;
            timeline.add(e);
            showEvent(e);
            if (e.type === 'handback') { current.state = 'returned'; paintHead(); }
            if (e.type === 'workflow_completed' || e.type === 'workflow_error') ended = true;
          },
        });
        if (ended) return;
        delay = 500;
      } catch (e) {
        if (e.name === 'AbortError') return;
        if (e.status >= 400 && e.status < 500) { toast(e.message, 'error'); return; }
        await sleep(delay, controller.signal);
        delay = Math.min(delay * 2, 10000);
      }
    }
  }

  async function claim() {
    claimButton.disabled = true;
    try {
      current = { ...current, ...(await post(`/v1/handoffs/${encodeURIComponent(current.handoff_id)}/claim`)) };
      paintHead();
      loadInbox();
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      claimButton.disabled = false;
    }
  }

  async function reply() {
    const text = replyInput.value.trim();
    if (!text) return;
    replyButton.disabled = true;
    try {
      const out = await post(`/v1/handoffs/${encodeURIComponent(current.handoff_id)}/messages`, { text });
      replyInput.value = '';
      current = { ...current, ...out.handoff };
      paintHead();
      // The live stream shows the reply; if it is not connected, show it now.
      if (out.event.seq > lastSeq) { lastSeq = out.event.seq; showEvent(out.event); timeline.add(out.event); }
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      replyButton.disabled = false;
    }
  }

  async function handBack() {
    backButton.disabled = true;
    try {
      const note = noteInput.value.trim();
      current = { ...current, ...(await post(`/v1/handoffs/${encodeURIComponent(current.handoff_id)}/return`, note ? { note } : {})) };
      noteInput.value = '';
      paintHead();
      loadInbox();
      toast('Handed back to the assistant');
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      backButton.disabled = false;
    }
  }

  loadInbox();
  if (params[0]) open(params[0]);
  else clear(log).append(empty('Pick a conversation', 'Choose a hand-off on the left to read it and reply.'));

  return () => { life.abort(); follow?.abort(); };
}
