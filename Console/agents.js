// Agents: the workspace's agents (GET /v1/agents) on the left; the chosen one's prompt and tools
// on the right, saved as a new version (PATCH /v1/agents/{id}), with its version history.

import { api, get } from './api.js';
import { h, append, badge, clear, empty, field, load, pageHeader, timeEl, toast } from './ui.js';

const enc = encodeURIComponent;

export function agentsView(container, params, ctx) {
  const canEdit = ctx.session.role === 'admin';
  const listPane = h('nav.template-list', { 'aria-label': 'Agents' });
  const editorPane = h('div.template-editor');
  clear(container).append(pageHeader('Agents', 'Agents defined as data: prompt, tools and limits. Every save is a new version.'),
    h('div.split', listPane, editorPane));
  load(listPane, () => get('/v1/agents?limit=200'), (page) => {
    if (!page.data.length) { listPane.append(empty('No agents')); return; }
    listPane.append(h('ul.plain.agent-list', page.data.map((a) => h('li', h('a.template-link', {
      href: `#/agents/${enc(a.name)}`, 'aria-current': a.name === params[0] ? 'page' : null },
    h('span', a.name), h('span.muted.small', `v${a.version}${a.is_default ? ' · default' : ''}`))))));
    const chosen = page.data.find((a) => a.name === params[0]);
    if (chosen) agentEditor(editorPane, chosen, canEdit);
    else editorPane.append(empty('Choose an agent', 'Select an agent on the left to see and edit it.'));
  });
}

function agentEditor(pane, agent, canEdit) {
  clear(pane);
  let current = agent;
  const prompt = h('textarea#agent-prompt', { rows: 10, placeholder: 'Empty: the workspace prompt (the server\'s and its packs\' instructions)', disabled: !canEdit },
    agent.system_prompt ?? '');
  const allTools = h('input#agent-all-tools', { type: 'checkbox', checked: agent.tools === null, disabled: !canEdit });
  const toolList = h('fieldset.agent-tools', { 'aria-label': 'Allowed tools' });
  const versions = h('div.versions');
  const description = h('p.muted', agent.description ?? '');
  const heading = h('h2#agent-name', `${agent.name} · version ${agent.version}`);

  load(toolList, () => get('/v1/tools'), (page) => {
    const allowed = new Set(current.tools ?? page.data.map((t) => t.name));
    toolList.append(h('legend', 'Allowed tools'), ...page.data.map((t) => h('label.check',
      h('input', { type: 'checkbox', name: 'tool', value: t.name, checked: allowed.has(t.name), disabled: !canEdit || allTools.checked }),
      h('span.mono', t.name), ' ', h('span.muted.small', t.description))));
  });
  allTools.addEventListener('change', () => {
    for (const box of toolList.querySelectorAll('input[name=tool]')) box.disabled = allTools.checked;
  });

  const save = async (ev) => {
    ev.preventDefault();
    const body = {
      system_prompt: prompt.value.trim() ? prompt.value : null,
      tools: allTools.checked ? null : [...toolList.querySelectorAll('input[name=tool]:checked')].map((b) => b.value),
    };
    try {
      current = await api('PATCH', `/v1/agents/${enc(current.id)}`, body);
      heading.textContent = `${current.name} · version ${current.version}`;
      toast(`Saved version ${current.version}.`, 'success');
      loadVersions();
    } catch (e) { toast(e.message, 'error'); }
  };
  const loadVersions = () => load(versions, () => get(`/v1/agents/${enc(current.id)}/versions`), (page) => {
    versions.append(h('ul.plain.version-list', page.data.map((v) => h('li',
      h('span', `Version ${v.version}`), v.version === current.version ? [' ', badge('in use', 'success')] : null, ' ',
      h('span.muted.small', timeEl(v.created_at), ` · ${v.created_by}`)))));
  });
  append(pane, [
    h('form.card#agent-form', { on: { submit: save } },
      heading, description,
      agent.is_default ? h('p.hint', 'The default agent answers the Chat view, sessions and the customer chat.') : null,
      field('System prompt', prompt),
      h('div.field', h('label.check', allTools, 'Every tool of the workspace\'s packs')),
      toolList,
      canEdit ? h('div.form-actions', h('button.btn.btn-primary', { type: 'submit' }, 'Save new version'))
        : h('p.hint', 'Only administrators change agents.')),
    h('div.template-side', h('section.card', h('h2', 'Version history'), versions)),
  ]);
  loadVersions();
}
