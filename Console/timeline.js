// The reasoning timeline: one item per step of a run, built from its events (live or stored).

import { post } from './api.js';
import { h, append, clear, badge, collapsible, fmtDuration, timeEl, toast } from './ui.js';
import { inline } from './markdown.js';

export class Timeline {
  constructor({ canDecide = true } = {}) {
    this.element = h('ol.timeline', { 'aria-label': 'Reasoning timeline' });
    this.steps = new Map();
    this.approvals = new Map();
    this.thinking = null;
    this.canDecide = canDecide;
  }

  reset() {
    clear(this.element);
    this.steps.clear();
    this.approvals.clear();
    this.thinking = null;
    this.lastThought = null;
  }

  item(kind, title, ...body) {
    const li = h('li.tl-item', { class: `tl-${kind}`, dataset: { kind } },
      h('div.tl-marker', { 'aria-hidden': 'true' }),
      h('div.tl-body', h('div.tl-title', title), ...body));
    this.element.append(li);
    // Keep the newest step in view inside the pane only; never scroll the page (phones stack the panes).
    const pane = this.element.closest('.chat-timeline');
    if (pane && pane.scrollHeight > pane.clientHeight && getComputedStyle(pane).overflowY === 'auto') pane.scrollTop = pane.scrollHeight;
    return li;
  }

  add(e) {
    if (e.type !== 'agent_thinking') this.thinking = null;
    switch (e.type) {
      case 'workflow_started':
        this.item('start', h('span', 'Run started ', timeEl(e.timestamp, true)));
        break;
      case 'agent_thinking': {
        if (!this.thinking) {
          this.thinkingText = h('p.tl-thought');
          this.thinking = this.item('thinking', 'Thinking', this.thinkingText);
        }
        this.thinkingText.append(e.thought ?? '');
        this.lastThought = this.thinkingText.textContent;
        break;
      }
      case 'reasoning_step': {
        const status = h('span.tl-status', badge('planned', 'pending'));
        const li = this.item('step', h('span', `Step ${e.step_number} · `, h('code', e.action), ' ', status),
          // Every step of a turn carries the turn's thought: show it once.
          e.thought && e.thought !== this.lastThought ? h('p.tl-thought', e.thought) : null,
          collapsible('Input', e.action_input));
        this.lastThought = e.thought;
        this.steps.set(e.step_id, { li, status });
        break;
      }
      case 'tool_start': {
        const step = this.steps.get(e.step_id);
        if (step) clear(step.status).append(badge('running', 'running'));
        else this.item('step', h('span', h('code', e.tool), ' started'));
        break;
      }
      case 'tool_end': {
        let step = this.steps.get(e.step_id);
        if (!step) {
          const status = h('span.tl-status');
          step = { li: this.item('step', h('span', h('code', e.tool), ' ', status)), status };
        }
        append(clear(step.status), [badge(e.status ?? (e.success ? 'success' : 'error')),
          e.duration_ms !== undefined && e.duration_ms !== null ? h('span.tl-duration', fmtDuration(e.duration_ms)) : null]);
        step.li.classList.toggle('tl-failed', !e.success);
        step.li.querySelector('.tl-body').append(collapsible('Output', e.output));
        break;
      }
      case 'approval_required':
        this.approvalCard(e);
        break;
      case 'approval_resolved': {
        const card = this.approvals.get(e.approval_id);
        if (card) this.resolveCard(card, e.decision, e.decided_by);
        else this.item('approval', `Approval ${e.decision === 'approve' ? 'granted' : 'denied'} for ${e.tool}`);
        break;
      }
      case 'workflow_completed': {
        const usage = e.usage ?? {};
        this.item('done', 'Completed',
          h('p.tl-meta', [
            `${e.total_steps} tool call${e.total_steps === 1 ? '' : 's'}`,
            e.execution_time_ms !== undefined ? fmtDuration(e.execution_time_ms) : null,
            e.provider ? `provider ${e.provider}` : null,
            `${usage.input_tokens ?? 0} in / ${usage.output_tokens ?? 0} out tokens`,
          ].filter(Boolean).join(' · ')));
        for (const card of this.approvals.values()) card.buttons?.forEach((b) => { b.disabled = true; });
        break;
      }
      case 'workflow_error':
        this.item(e.error_type === 'cancelled' ? 'cancelled' : 'error', e.error_type === 'cancelled' ? 'Stopped' : 'Error',
          h('p', e.error_message ?? 'The run failed.'),
          e.recovery_suggestion ? h('p.tl-suggestion', h('strong', 'What to do: '), e.recovery_suggestion) : null);
        for (const card of this.approvals.values()) card.buttons?.forEach((b) => { b.disabled = true; });
        break;
      case 'citation':
        // A source the answer cites as [n] (any tool whose output carries `citations`).
        this.item('citation', h('span', `[${e.n}] `, h('strong', e.document_title ?? 'Source'), e.heading_path ? ` — ${e.heading_path}` : ''),
          e.snippet ? h('p.tl-snippet', e.snippet) : null);
        break;
      // A conversation handed to a person and back (docs/handoff.md).
      case 'handoff':
        this.item('approval', 'Handed to a person', h('p', e.reason ?? ''));
        break;
      case 'customer_message':
        this.item('other', 'Customer wrote while handed off', h('p', e.text ?? ''));
        break;
      case 'human_message':
        this.item('other', `${e.name ?? 'Staff'} replied`, h('p', e.text ?? ''));
        break;
      case 'handback':
        this.item('other', 'Handed back to the assistant', e.note ? h('p', `Note: ${e.note}`) : null);
        break;
      case 'heartbeat':
      case 'text_delta':
        // The answer streams into the conversation, not the timeline.
        break;
      default:
        // Events added later (handoff, escalation, ...) still show, as data.
        this.item('other', e.type.replace(/_/g, ' '), collapsible('Details', e));
    }
  }

  approvalCard(e) {
    const actions = h('div.tl-actions');
    const card = { li: null, actions, buttons: [] };
    const decide = async (decision) => {
      card.buttons.forEach((b) => { b.disabled = true; });
      try {
        await post(`/v1/workflows/${encodeURIComponent(e.workflow_id)}/approvals/${encodeURIComponent(e.approval_id)}`, { decision });
      } catch (err) {
        toast(err.message, 'error');
        card.buttons.forEach((b) => { b.disabled = false; });
      }
    };
    if (this.canDecide) {
      card.buttons = [
        h('button.btn.btn-primary', { type: 'button', on: { click: () => decide('approve') } }, 'Approve'),
        h('button.btn', { type: 'button', on: { click: () => decide('deny') } }, 'Deny'),
      ];
      actions.append(...card.buttons);
    }
    const email = emailPreview(e.input);
    card.li = this.item('approval', h('span', 'Approval needed · ', h('code', e.tool)),
      h('p', e.reason), email, collapsible(email ? 'Technical details' : 'Input', e.input, !email), actions);
    card.li.setAttribute('role', 'group');
    card.li.setAttribute('aria-label', `Approval for ${e.tool}`);
    this.approvals.set(e.approval_id, card);
  }

  resolveCard(card, decision, by) {
    append(clear(card.actions), [badge(decision === 'approve' ? 'approved' : 'denied'),
      by ? h('span.muted.small', ` by ${by}`) : null]);
    card.li.classList.add('tl-resolved');
  }

  /** Marks approvals already decided (when the timeline is rebuilt from stored events). */
  markDecided(approvals) {
    for (const a of approvals ?? []) {
      const card = this.approvals.get(a.approval_id);
      if (card && a.status !== 'pending') this.resolveCard(card, a.status === 'approved' ? 'approve' : 'deny', a.decided_by);
    }
  }
}

/**
 * An email as its recipient will read it (To, Subject, the body's paragraphs and lines, links),
 * for an approval whose input carries a subject and a text body; null for anything else. Built
 * from text nodes and checked anchors only: nothing in the input becomes markup.
 */
export function emailPreview(input) {
  if (!input || typeof input !== 'object' || typeof input.body !== 'string' || typeof input.subject !== 'string') return null;
  const to = typeof input.recipient_email === 'string' && input.recipient_email ? input.recipient_email : "the client's address on record";
  const body = styled(h('div.email-body'), { marginTop: '.5rem', paddingTop: '.5rem', borderTop: '1px solid var(--line)', overflowWrap: 'anywhere' });
  for (const paragraph of input.body.replace(/\r\n?/g, '\n').split(/\n\s*\n/)) {
    if (!paragraph.trim()) continue;
    const p = styled(h('p.email-paragraph'), { margin: '.35rem 0' });
    paragraph.split('\n').forEach((line, i) => {
      if (i > 0) p.append(h('br'));
      inline(p, line);
    });
    body.append(p);
  }
  return styled(h('div.email-preview', { role: 'group', 'aria-label': 'Email as the client will see it' },
    h('div.email-to', h('span.muted', 'To: '), to),
    h('div.email-subject', h('span.muted', 'Subject: '), h('strong', input.subject)),
    body), { background: 'var(--surface)', border: '1px solid var(--line)', borderRadius: '6px', padding: '.6rem .75rem', margin: '.4rem 0', fontSize: '.9rem' });
}

/** Styles through the CSSOM, which the console's style-src 'self' policy allows (style attributes it does not). */
function styled(el, css) {
  Object.assign(el.style, css);
  return el;
}
