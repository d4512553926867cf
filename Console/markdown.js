// A small Markdown renderer that builds DOM nodes. Model and tool text only ever becomes text
// nodes; links are kept only for http(s) and mailto, so no markup or script can get through.

import { h } from './ui.js';

const SAFE_URL = /^(https?:\/\/|mailto:)/i;

export function renderMarkdown(source) {
  const root = document.createDocumentFragment();
  const lines = String(source ?? '').replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^\s*$/.test(line)) { i++; continue; }
    const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)\s*$/);
    if (fence) {
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      root.append(h('pre.code', h('code', body.join('\n'))));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      const level = Math.min(heading[1].length + 2, 6);
      root.append(inline(h(`h${level}`), heading[2].replace(/\s#+\s*$/, '')));
      i++;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { root.append(h('hr')); i++; continue; }
    if (/^\s*>/.test(line)) {
      const body = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ''));
      const quote = h('blockquote');
      quote.append(renderMarkdown(body.join('\n')));
      root.append(quote);
      continue;
    }
    const listMatch = line.match(/^\s*([-*+]|\d{1,9}[.)])\s+/);
    if (listMatch) {
      const ordered = /\d/.test(listMatch[1]);
      const list = h(ordered ? 'ol' : 'ul');
      if (ordered) {
        const start = parseInt(listMatch[1], 10);
        if (start !== 1) list.start = start;
      }
      const itemRe = ordered ? /^\s*\d{1,9}[.)]\s+(.*)$/ : /^\s*[-*+]\s+(.*)$/;
      while (i < lines.length) {
        const m = lines[i].match(itemRe);
        if (m) { list.append(inline(h('li'), m[1])); i++; continue; }
        // An indented line continues the item above it.
        if (/^\s{2,}\S/.test(lines[i]) && list.lastChild) {
          list.lastChild.append(' ');
          inline(list.lastChild, lines[i].trim());
          i++;
          continue;
        }
        break;
      }
      root.append(list);
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(lines[i + 1])) {
      const cells = (l) => l.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
      const table = h('table.md-table');
      const head = h('tr');
      for (const c of cells(line)) head.append(inline(h('th', { scope: 'col' }), c));
      table.append(h('thead', head));
      const body = h('tbody');
      i += 2;
      while (i < lines.length && lines[i].includes('|') && lines[i].trim() !== '') {
        const row = h('tr');
        for (const c of cells(lines[i])) row.append(inline(h('td'), c));
        body.append(row);
        i++;
      }
      table.append(body);
      root.append(h('div.table-scroll', table));
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() !== '' && !/^(#{1,6}\s|\s*```|\s*~~~|\s*>|\s*([-*+]|\d{1,9}[.)])\s+)/.test(lines[i])) {
      para.push(lines[i++].trim());
    }
    if (para.length === 0) para.push(lines[i++].trim());
    const p = h('p');
    para.forEach((text, n) => {
      if (n > 0) p.append(h('br'));
      inline(p, text);
    });
    root.append(p);
  }
  return root;
}

// Inline syntax, earliest match first: `code`, **bold**, *em* / _em_, [text](url), bare URLs.
const INLINE = /`([^`]+)`|\*\*(.+?)\*\*|__(.+?)__|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)|(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)|\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/;

export function inline(parent, text) {
  let rest = text;
  while (rest) {
    const m = rest.match(INLINE);
    if (!m) { parent.append(rest); break; }
    if (m.index > 0) parent.append(rest.slice(0, m.index));
    if (m[1] !== undefined) parent.append(h('code', m[1]));
    else if (m[2] !== undefined || m[3] !== undefined) parent.append(inline(h('strong'), m[2] ?? m[3]));
    else if (m[4] !== undefined || m[5] !== undefined) parent.append(inline(h('em'), m[4] ?? m[5]));
    else if (m[6] !== undefined) parent.append(link(m[7], m[6]));
    else if (m[8] !== undefined) parent.append(link(m[8]));
    rest = rest.slice(m.index + m[0].length);
  }
  return parent;
}

/** An anchor for a safe URL (its label's inline syntax rendered); a bare URL is its own text, not parsed again. */
function link(url, label) {
  if (!SAFE_URL.test(url)) return document.createTextNode(label ?? url);
  const a = h('a', { href: url, rel: 'noopener noreferrer nofollow', target: '_blank' });
  if (label === undefined) { a.append(url); return a; }
  return inline(a, label);
}
