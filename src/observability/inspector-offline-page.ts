/**
 * The inspector relay's built-in view (`/offline`): one self-contained page,
 * no external script, style or font, so it works with no network. It opens
 * `ws://<relay>/offline/stream`, receives the relay's `InspectorView`
 * snapshots as they change, and draws the supervisor tree, the rooms with
 * their members, the connections, and the last events. Every value is put in
 * the page as text (never as HTML).
 */
export const offlinePage = (): string => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>webrtc-server inspector (offline view)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>
:root { color-scheme: light dark; --muted: #6b7280; --ok: #15803d; --bad: #b91c1c; --line: rgba(127,127,127,.25); font: 14px/1.4 system-ui, sans-serif; }
body { margin: 0; padding: 1rem 1.5rem; }
header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 1.2rem; margin: 0; }
h2 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
#conn { font-size: .85rem; padding: .1rem .5rem; border-radius: 1rem; background: var(--line); }
#conn.live { background: var(--ok); color: #fff; }
#conn.down { background: var(--bad); color: #fff; }
.muted { color: var(--muted); }
main { display: grid; grid-template-columns: minmax(260px, 1fr) minmax(320px, 2fr); gap: 0 2rem; }
ul.tree, ul.tree ul { list-style: none; margin: 0; padding-left: 1.1rem; border-left: 1px solid var(--line); }
ul.tree { padding-left: 0; border: 0; }
li { margin: .15rem 0; }
code, .id { font-family: ui-monospace, monospace; font-size: .85rem; }
.state { display: inline-block; padding: 0 .4rem; border-radius: .3rem; background: var(--line); font-family: ui-monospace, monospace; font-size: .8rem; }
.state.running, .state.inRoom, .state.open, .state.active { background: #dcfce7; color: #14532d; }
.restarts { color: var(--bad); font-size: .8rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .2rem .5rem .2rem 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; font-size: .85rem; }
#events td:first-child { white-space: nowrap; }
</style></head>
<body>
<header><h1>webrtc-server inspector</h1><span id="conn">connecting…</span>
<span class="muted">built-in offline view · <a href="/">Stately inspector</a> (needs internet)</span></header>
<main>
<section><h2>Supervisor tree</h2><ul id="tree" class="tree"></ul>
<h2>Rooms <span id="room-count" class="muted"></span></h2><table id="rooms"><thead><tr><th>room</th><th>state</th><th>members</th></tr></thead><tbody></tbody></table></section>
<section><h2>Connections <span id="connection-count" class="muted"></span></h2>
<table id="connections"><thead><tr><th>peer id</th><th>user</th><th>room</th><th>state</th><th>last events</th></tr></thead><tbody></tbody></table>
<h2>Last events</h2><table id="events"><thead><tr><th>time</th><th>actor</th><th>event</th></tr></thead><tbody></tbody></table>
<p id="untracked" class="muted"></p></section>
</main>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
function state(value) { return el('span', value || '?', 'state ' + String(value || '').replace(/[^A-Za-z0-9_-]/g, '')); }
function row(cells) { const tr = el('tr'); for (const c of cells) { const td = el('td'); if (c instanceof Node) td.append(c); else td.textContent = c; tr.append(td); } return tr; }
function fill(tbody, rows, empty, columns) { tbody.replaceChildren(...(rows.length ? rows : [row([empty].concat(Array(columns - 1).fill('')))])); }
const ctx = (a) => (a.context && typeof a.context === 'object' ? a.context : {});

function supervisorNode(name, byId, seen) {
  const sup = byId.get('supervisor:' + name);
  const li = el('li');
  li.append(el('span', name, 'id'), ' ', state(sup ? sup.state : 'unknown'));
  if (!sup || seen.has(name)) return li;
  seen.add(name);
  const children = ctx(sup).children;
  if (typeof children === 'number') { li.append(' ', el('span', children + ' children', 'muted')); return li; }
  if (!Array.isArray(children) || !children.length) return li;
  const ul = el('ul');
  for (const child of children) {
    if (byId.has('supervisor:' + child.id)) { ul.append(supervisorNode(child.id, byId, seen)); continue; }
    const c = el('li');
    c.append(el('span', child.id, 'id'), ' ', state(child.state));
    if (child.restarts) c.append(' ', el('span', child.restarts + ' restarts', 'restarts'));
    ul.append(c);
  }
  li.append(ul);
  return li;
}

function render(view) {
  const byId = new Map(view.actors.map((a) => [a.id, a]));
  const sups = view.actors.filter((a) => a.kind === 'supervisor');
  const named = new Set(sups.map((s) => s.id.slice('supervisor:'.length)));
  const nested = new Set();
  for (const s of sups) { const ch = ctx(s).children; if (Array.isArray(ch)) for (const c of ch) if (named.has(c.id)) nested.add(c.id); }
  const roots = [...named].filter((n) => !nested.has(n));
  const seen = new Set();
  $('tree').replaceChildren(...(roots.length ? roots.map((r) => supervisorNode(r, byId, seen)) : [el('li', 'no supervisor reported yet', 'muted')]));

  const connections = view.actors.filter((a) => a.kind === 'connection');
  const rooms = view.actors.filter((a) => a.kind === 'room');
  $('room-count').textContent = '(' + rooms.length + ')';
  fill($('rooms').tBodies[0], rooms.map((r) => {
    const name = r.id.slice('room:'.length);
    const members = connections.filter((c) => ctx(c).room === name && ctx(c).username);
    const list = el('span');
    list.append(String(ctx(r).members ?? members.length) + ': ');
    members.forEach((m, i) => { if (i) list.append(', '); list.append(el('span', ctx(m).username), ' ', el('code', '(' + m.id.slice('connection:'.length) + ')', 'muted')); });
    return row([el('span', name, 'id'), state(r.state), list]);
  }), 'no room', 3);

  $('connection-count').textContent = '(' + connections.length + ')';
  fill($('connections').tBodies[0], connections.map((c) => row([
    el('code', c.id.slice('connection:'.length)), ctx(c).username || '—', ctx(c).room || '', state(c.state), c.events.join(' → '),
  ])), 'no connection', 5);

  fill($('events').tBodies[0], view.events.slice(-30).reverse().map((e) => row([
    new Date(e.at).toLocaleTimeString(), el('code', e.actorId), el('code', e.type),
  ])), 'no event yet', 3);
  $('untracked').textContent = view.untracked ? view.untracked + ' more actors not shown (limit reached)' : '';
  document.body.dataset.updated = String(view.at);
}

let retry = 500;
function connect() {
  const ws = new WebSocket('ws://' + location.host + '/offline/stream');
  ws.onopen = () => { retry = 500; $('conn').textContent = 'live'; $('conn').className = 'live'; };
  ws.onmessage = (e) => { try { const m = JSON.parse(e.data); if (m.type === 'view') render(m.view); } catch (err) { console.error(err); } };
  ws.onclose = () => { $('conn').textContent = 'disconnected, retrying…'; $('conn').className = 'down'; setTimeout(connect, retry); retry = Math.min(retry * 2, 10000); };
}
connect();
</script></body></html>
`;

/** Which relay port the page was made for (kept for the log line). */
export const offlineUrl = (port: number): string => `http://127.0.0.1:${port}/offline`;
