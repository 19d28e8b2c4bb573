// Model cards (a model's README.md after its front matter) as markup, in the subset of Markdown
// that cards use: ATX and setext headings, paragraphs, emphasis, strikethrough, code spans,
// fenced and indented code, nested lists, block quotes, rules, pipe tables, links and line breaks.
//
// A card is text someone else wrote, shown on the operator's dashboard: nothing in it becomes
// markup of its own. Every piece of output is built by `html`, which escapes what it is given, so
// raw HTML in a card (<script>, <img onerror=…>) reads as the text it is. Links go only to http(s)
// and mailto addresses; any other (javascript:, a file of the model, an anchor: this page's URL is
// its route) shows as its text. Images are never loaded (the dashboard fetches nothing from outside
// its daemon): an image becomes a link to where it is, labelled with its alt text.
//
// The work grows with the card's length, not faster: brackets are matched in one pass, a
// delimiter that found no closer is not looked for again past the same place, and nesting (block
// quotes, lists, emphasis) stops at MAX_DEPTH.

import { html } from './format.js';

const MAX_DEPTH = 8;
const MAX_TITLE_CHARS = 500;

const FENCE = /^( {0,3})(`{3,}|~{3,})[ ]*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ ]+(.*?))?(?:[ ]+#+)?[ ]*$/;
const RULE = /^ {0,3}([-*_])(?:[ ]*\1){2,}[ ]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const LIST_ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])( +|$)(.*)$/;
const SETEXT = /^ {0,3}(=+|-+)[ ]*$/;
const TABLE_DELIMITER = /^ {0,3}\|?[ ]*:?-+:?[ ]*(?:\|[ ]*:?-+:?[ ]*)*\|?[ ]*$/;
const CODE_INDENT = /^ {4}/;
const PUNCTUATION = /[!-/:-@[-`{-~]/;

// The card as markup. `headingOffset`: how many levels its headings go down, so that a card's
// "# Title" sits below the page's own headings (1: an h1 of the card is an h2).
export function renderMarkdown(text, { headingOffset = 0 } = {}) {
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').replace(/\t/g, '    ').split('\n');
  return html`${blocks(lines, { depth: 0, headingOffset, tight: false })}`;
}

// ------------------------------------------------------------------ blocks
function blank(line) {
  return line.trim() === '';
}

// Whether `line` starts a block that ends a paragraph before it (an ordered list only from 1, and
// no empty item, as in CommonMark: "2024. was a good year" stays text).
function interrupts(line) {
  if (HEADING.test(line) || FENCE.test(line) || RULE.test(line) || QUOTE.test(line)) return true;
  const item = LIST_ITEM.exec(line);
  return !!item && item[4].trim() !== '' && (!/\d/.test(item[2]) || parseInt(item[2], 10) === 1);
}

// A table row's cells: split on pipes that are not escaped, without the outer ones.
function cells(line) {
  let text = line.trim();
  if (text.startsWith('|')) text = text.slice(1);
  if (text.endsWith('|') && !text.endsWith('\\|')) text = text.slice(0, -1);
  return text.split(/(?<!\\)\|/).map((c) => c.trim());
}

function startsTable(lines, i) {
  return lines[i].includes('|') && i + 1 < lines.length && lines[i + 1].includes('|') && TABLE_DELIMITER.test(lines[i + 1])
    && cells(lines[i]).length === cells(lines[i + 1]).length;
}

function blocks(lines, ctx) {
  const out = [];
  if (ctx.depth > MAX_DEPTH) return [html`<p>${lines.join('\n')}</p>`];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (blank(line)) { i++; continue; }
    let m;
    if ((m = FENCE.exec(line))) {
      const [, indent, fence, info] = m;
      const body = [];
      i++;
      while (i < lines.length && !(new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}[ ]*$`).test(lines[i]))) {
        body.push(lines[i].replace(new RegExp(`^ {0,${indent.length}}`), ''));
        i++;
      }
      i++;  // the closing fence, or past the end
      const lang = /^[\w+#.-]{1,32}$/.test(info) ? info : '';
      out.push(html`<pre><code${lang ? html` class="language-${lang}"` : ''}>${body.join('\n')}</code></pre>`);
      continue;
    }
    if ((m = HEADING.exec(line))) {
      out.push(heading(m[1].length, m[2] ?? '', ctx));
      i++;
      continue;
    }
    if (RULE.test(line)) {
      out.push(html`<hr>`);
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && !blank(lines[i])) {
        const q = QUOTE.exec(lines[i]);
        if (q) body.push(q[1]);
        else if (interrupts(lines[i])) break;
        else body.push(lines[i]);  // a lazy continuation of the quote's paragraph
        i++;
      }
      out.push(html`<blockquote>${blocks(body, { ...ctx, depth: ctx.depth + 1, tight: false })}</blockquote>`);
      continue;
    }
    if (LIST_ITEM.test(line)) {
      const [markup, next] = list(lines, i, ctx);
      out.push(markup);
      i = next;
      continue;
    }
    if (CODE_INDENT.test(line)) {
      const body = [];
      while (i < lines.length && (CODE_INDENT.test(lines[i]) || blank(lines[i]))) body.push(lines[i++].slice(4));
      while (body.length && blank(body[body.length - 1])) body.pop();
      out.push(html`<pre><code>${body.join('\n')}</code></pre>`);
      continue;
    }
    if (startsTable(lines, i)) {
      const [markup, next] = table(lines, i);
      out.push(markup);
      i = next;
      continue;
    }
    // A paragraph, up to a blank line or a line that starts another block; a setext underline
    // makes it a heading instead.
    const text = [line.trimStart()];
    i++;
    let level = 0;
    while (i < lines.length && !blank(lines[i])) {
      const underline = SETEXT.exec(lines[i]);
      if (underline) {
        level = underline[1][0] === '=' ? 1 : 2;
        i++;
        break;
      }
      if (interrupts(lines[i]) || startsTable(lines, i)) break;
      text.push(lines[i].replace(/^ +/, ''));
      i++;
    }
    const joined = text.join('\n').trimEnd();
    if (level) out.push(heading(level, joined, ctx));
    else out.push(ctx.tight ? html`${inline(joined, 0)}` : html`<p>${inline(joined, 0)}</p>`);
  }
  return out;
}

function heading(level, text, ctx) {
  const tag = `h${Math.min(6, level + ctx.headingOffset)}`;
  return html`<${tag} class="md-h${level}">${inline(text.trim(), 0)}</${tag}>`;
}

// A list from line `i`: its items, each parsed as blocks of its own (so lists nest), and the line
// after it. A list is loose (paragraphs in <p>) when a blank line separates its items or blocks.
function list(lines, i, ctx) {
  const first = LIST_ITEM.exec(lines[i]);
  const ordered = /\d/.test(first[2]);
  const marker = first[2].slice(-1);
  const start = ordered ? parseInt(first[2], 10) : 1;
  const items = [];
  let loose = false;
  while (i < lines.length) {
    const m = LIST_ITEM.exec(lines[i]);
    if (!m || RULE.test(lines[i]) || /\d/.test(m[2]) !== ordered || m[2].slice(-1) !== marker) break;
    const gap = m[3].length;
    const indent = m[1].length + m[2].length + (gap >= 1 && gap <= 4 ? gap : 1);
    const body = [gap > 4 ? `${' '.repeat(gap - 1)}${m[4]}` : m[4]];
    i++;
    while (i < lines.length) {
      const line = lines[i];
      if (blank(line)) { body.push(''); i++; continue; }
      if (line.length - line.trimStart().length >= indent) { body.push(line.slice(indent)); i++; continue; }
      // A lazy continuation: text right after the item's own text, not a new block.
      if (!blank(body[body.length - 1]) && !interrupts(line) && !LIST_ITEM.test(line)) { body.push(line.trim()); i++; continue; }
      break;
    }
    let trailing = 0;
    while (body.length > 1 && blank(body[body.length - 1])) { body.pop(); trailing++; }
    if (body.some(blank)) loose = true;
    if (trailing && i < lines.length && LIST_ITEM.test(lines[i])) loose = true;
    items.push(body);
  }
  const inner = { ...ctx, depth: ctx.depth + 1, tight: !loose };
  const lis = items.map((body) => html`<li>${blocks(body, inner)}</li>`);
  const markup = ordered
    ? html`<ol${start !== 1 ? html` start="${start}"` : ''}>${lis}</ol>`
    : html`<ul>${lis}</ul>`;
  return [markup, i];
}

function table(lines, i) {
  const head = cells(lines[i]);
  const align = cells(lines[i + 1]).map((c) => (c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : ''));
  const rows = [];
  i += 2;
  while (i < lines.length && !blank(lines[i]) && lines[i].includes('|') && !interrupts(lines[i])) {
    const row = cells(lines[i]);
    rows.push(head.map((_, c) => row[c] ?? ''));
    i++;
  }
  const cell = (tag, text, c) => html`<${tag}${align[c] ? html` class="align-${align[c]}"` : ''}>${inline(text, 0)}</${tag}>`;
  return [html`<div class="table-wrap"><table class="md-table">
    <thead><tr>${head.map((text, c) => cell('th', text, c))}</tr></thead>
    <tbody>${rows.map((row) => html`<tr>${row.map((text, c) => cell('td', text, c))}</tr>`)}</tbody>
  </table></div>`, i];
}

// ------------------------------------------------------------------ inline
// Where a link may go: the web and e-mail, nothing that runs or that this page would route.
function safeUrl(url) {
  return /^(?:https?:\/\/|mailto:)[^\s]*$/i.test(url) ? url : null;
}

function link(url, label, title = '') {
  const href = safeUrl(url);
  if (!href) return html`<span class="md-link-off" title="${url}">${label}</span>`;
  return html`<a href="${href}" title="${title || href}" target="_blank" rel="nofollow noopener noreferrer">${label}</a>`;
}

// For every '[' of `text`, the index of its ']' (brackets nest; a backslash escapes one).
function matchBrackets(text) {
  const match = new Map();
  const open = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '[') open.push(i);
    else if (c === ']' && open.length) match.set(open.pop(), i);
  }
  return match;
}

// "(url)" or "(url "title")" at `at`: {url, title, end} (end: past the ')'), or null.
function destination(text, at) {
  if (text[at] !== '(') return null;
  let i = at + 1;
  while (text[i] === ' ' || text[i] === '\n') i++;
  let url = '';
  if (text[i] === '<') {
    const close = text.indexOf('>', i);
    if (close < 0 || text.slice(i, close).includes('\n')) return null;
    url = text.slice(i + 1, close);
    i = close + 1;
  } else {
    let depth = 0;
    const from = i;
    for (; i < text.length && !/\s/.test(text[i]); i++) {
      if (text[i] === '\\') { i++; continue; }
      if (text[i] === '(') depth++;
      else if (text[i] === ')' && depth-- === 0) break;
    }
    url = text.slice(from, i);
  }
  while (text[i] === ' ' || text[i] === '\n') i++;
  let title = '';
  if (text[i] === '"' || text[i] === "'") {
    const close = text.indexOf(text[i], i + 1);
    if (close < 0 || close - i > MAX_TITLE_CHARS) return null;
    title = text.slice(i + 1, close);
    i = close + 1;
    while (text[i] === ' ' || text[i] === '\n') i++;
  }
  return text[i] === ')' ? { url: url.replace(/\\(.)/g, '$1'), title, end: i + 1 } : null;
}

const space = (c) => c === undefined || /\s/.test(c);
const URL_AT = /(?:https?:\/\/|www\.)[^\s<]+/iy;
const AUTOLINK_AT = /<((?:https?:\/\/|mailto:)[^\s<>]+)>/iy;

// How many times `c` repeats from `at`.
function runLength(text, at, c) {
  let end = at;
  while (text[end] === c) end++;
  return end - at;
}
const wordChar = (c) => c !== undefined && /[\p{L}\p{N}]/u.test(c);

// Inline Markdown as a list of text and markup, for `html` to join (and escape the text).
// `noLinks`: inside a link's label, where links do not nest.
function inline(text, depth, noLinks = false) {
  if (depth > MAX_DEPTH) return [text];
  const out = [];
  const brackets = text.includes('[') ? matchBrackets(text) : null;
  const noCloserAfter = new Map();  // delimiter → a place from which it has no closer
  let buf = '';
  const flush = () => { if (buf) { out.push(buf); buf = ''; } };
  const emit = (markup) => { flush(); out.push(markup); };

  // The next place after `from` where `delim` closes emphasis, or -1.
  const closer = (delim, from) => {
    const known = noCloserAfter.get(delim);
    if (known !== undefined && from >= known) return -1;
    const c = delim[0];
    for (let q = text.indexOf(delim, from); q >= 0; q = text.indexOf(delim, q + 1)) {
      if (space(text[q - 1]) || text[q - 1] === '\\') continue;
      if (delim.length === 1 && c !== '~' && (text[q - 1] === c || text[q + 1] === c)) { q += runLength(text, q, c) - 1; continue; }
      if (c === '_' && wordChar(text[q + delim.length])) continue;
      return q;
    }
    noCloserAfter.set(delim, from);
    return -1;
  };

  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') {
      if (text[i + 1] === '\n') { flush(); emit(html`<br>`); i += 2; continue; }
      if (PUNCTUATION.test(text[i + 1] ?? '')) { buf += text[i + 1]; i += 2; continue; }
      buf += c;
      i++;
      continue;
    }
    if (c === '\n') {
      // Two spaces before the end of a line break it. Text is flushed line by line, so that
      // trimming the line never copies the whole paragraph.
      if (text[i - 1] === ' ' && text[i - 2] === ' ') { buf = buf.trimEnd(); emit(html`<br>`); } else { buf += '\n'; flush(); }
      i++;
      continue;
    }
    if (c === '`') {
      const run = '`'.repeat(runLength(text, i, '`'));
      const key = `code${run.length}`;
      let close = -1;
      if (!(noCloserAfter.has(key) && i >= noCloserAfter.get(key))) {
        for (let q = text.indexOf(run, i + run.length); q >= 0; q = text.indexOf(run, q + 1)) {
          if (text[q + run.length] === '`') { q += runLength(text, q, '`') - 1; continue; }
          if (text[q - 1] !== '`') { close = q; break; }
        }
        if (close < 0) noCloserAfter.set(key, i);
      }
      if (close < 0) { buf += run; i += run.length; continue; }
      let code = text.slice(i + run.length, close).replace(/\n/g, ' ');
      if (code.length > 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim()) code = code.slice(1, -1);
      emit(html`<code>${code}</code>`);
      i = close + run.length;
      continue;
    }
    if ((c === '*' || c === '_' || c === '~') && !space(text[i + 1])) {
      const run = runLength(text, i, c);
      // "_" does not open emphasis inside a word (snake_case_names stay as they are).
      const opens = !(c === '_' && wordChar(text[i - 1])) && (c !== '~' || run >= 2);
      let done = false;
      for (const width of opens ? (c === '~' ? [2] : run >= 3 ? [3, 2, 1] : run === 2 ? [2, 1] : [1]) : []) {
        const delim = c.repeat(width);
        const q = closer(delim, i + width + 1);
        if (q < 0) continue;
        const inner = inline(text.slice(i + width, q), depth + 1, noLinks);
        emit(c === '~' ? html`<del>${inner}</del>` : width === 3 ? html`<strong><em>${inner}</em></strong>`
          : width === 2 ? html`<strong>${inner}</strong>` : html`<em>${inner}</em>`);
        i = q + width;
        done = true;
        break;
      }
      if (!done) { buf += c.repeat(run); i += run; }
      continue;
    }
    if (!noLinks && (c === '[' || (c === '!' && text[i + 1] === '['))) {
      const open = c === '!' ? i + 1 : i;
      const close = brackets?.get(open);
      const dest = close !== undefined ? destination(text, close + 1) : null;
      if (dest) {
        const label = text.slice(open + 1, close);
        if (c === '!') {
          const alt = label.replace(/\\(.)/g, '$1');
          emit(link(dest.url, html`<span class="md-image-mark">image:</span> ${alt || dest.url}`, dest.title));
        } else {
          emit(link(dest.url, inline(label, depth + 1, true), dest.title));
        }
        i = dest.end;
        continue;
      }
      buf += c;
      i++;
      continue;
    }
    if (c === '<' && !noLinks) {
      AUTOLINK_AT.lastIndex = i;
      const m = AUTOLINK_AT.exec(text);
      if (m) { emit(link(m[1], m[1])); i += m[0].length; continue; }
    }
    if ((c === 'h' || c === 'w') && !noLinks && !wordChar(text[i - 1]) && text[i - 1] !== '/') {
      URL_AT.lastIndex = i;
      const m = URL_AT.exec(text);
      if (m) {
        let url = m[0].replace(/[.,:;!?'"*_~]+$/, '');
        while (url.endsWith(')') && (url.match(/\(/g) ?? []).length < (url.match(/\)/g) ?? []).length) url = url.slice(0, -1);
        if (url.length > 'www.'.length) {
          emit(link(url.startsWith('www.') ? `https://${url}` : url, url));
          i += url.length;
          continue;
        }
      }
    }
    buf += c;
    i++;
  }
  flush();
  return out;
}
