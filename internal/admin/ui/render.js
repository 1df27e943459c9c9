// tandem status page: turning the API's answers into the page's tables.
// Everything is built with DOM calls and textContent, never innerHTML, so
// names and error messages from the node cannot inject markup.
'use strict';

// el builds an element: attrs are attributes ("class" sets className),
// children are nodes or text.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}

function fillTable(id, rows, empty) {
  const table = document.getElementById(id);
  const cols = table.tHead.rows[0].cells.length;
  if (rows.length === 0 && empty) rows = [el('tr', { class: 'empty' }, el('td', { colspan: cols }, empty))];
  table.tBodies[0].replaceChildren(...rows);
}

function row(attrs, ...cells) {
  return el('tr', attrs, ...cells.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : el('td', {}, c))));
}

function badge(text, kind) {
  return el('td', {}, el('span', { class: 'badge ' + (kind || text || 'none') }, text || '–'));
}

// The node's answer, or one day the cluster's: status.nodes, when present,
// lists every node with the same fields as a single node's status.
function nodesOf(status) {
  return Array.isArray(status.nodes) && status.nodes.length ? status.nodes : [status];
}

const appViews = new Map(); // app name -> {article, head, table, charts}

function render(d) {
  const nodes = nodesOf(d.status);
  renderHeader(d.status, d.now);
  renderNodes(nodes, d.now);
  renderDatabase(d.status.database);
  renderSites(d.status.sites, d.now);
  renderApps(nodes, d.series, d.histories);
  renderChecks(d.checks, d.now);
  renderDeploys(d.histories, d.now);
  renderJobs(d.jobs, d.now);
  renderBackup(d.status.backup, d.now);
  document.getElementById('updated').textContent = 'updated ' + d.now.toLocaleTimeString();
}

function renderHeader(st, now) {
  const set = (id, v) => { document.getElementById(id).textContent = v || '–'; };
  set('node', st.node);
  set('zone', st.zone);
  set('site', st.site);
  set('version', st.version);
  set('uptime', st.started_at ? fmtAge(now - Date.parse(st.started_at)) : '');
  document.title = 'tandem · ' + (st.node || 'status');
}

function renderNodes(nodes, now) {
  fillTable('nodes', nodes.map((n) => row({ 'data-node': n.node },
    n.node, n.zone, n.site, n.version, (n.edge || []).join(', '),
    n.started_at ? fmtAge(now - Date.parse(n.started_at)) : '–',
    (n.apps || []).map((a) => a.name + ' ' + a.healthy + '/' + a.desired).join(', '))));
  const zones = new Map();
  const zone = (z) => {
    if (!zones.has(z)) zones.set(z, { nodes: 0, instances: 0, healthy: 0 });
    return zones.get(z);
  };
  for (const n of nodes) {
    zone(n.zone || '–').nodes++;
    for (const a of n.apps || []) {
      for (const i of a.instances || []) {
        const z = zone(i.zone || n.zone || '–');
        z.instances++;
        if (i.health === 'healthy') z.healthy++;
      }
    }
  }
  fillTable('zones', [...zones].sort().map(([name, z]) => row({ 'data-zone': name }, name, z.nodes, z.instances, z.healthy)));
}

// mergeApps joins each app's parts from every node.
function mergeApps(nodes) {
  const apps = new Map();
  for (const n of nodes) {
    for (const a of n.apps || []) {
      if (!apps.has(a.name)) apps.set(a.name, { name: a.name, release: a.release, desired: 0, healthy: 0, gate: a.gate, deploy: a.deploy, instances: [] });
      const m = apps.get(a.name);
      m.desired += a.desired || 0;
      m.healthy += a.healthy || 0;
      for (const i of a.instances || []) m.instances.push(Object.assign({ node: n.node }, i));
    }
  }
  return apps;
}

function renderApps(nodes, series, histories) {
  const apps = mergeApps(nodes);
  const parent = document.getElementById('apps');
  for (const [name, v] of appViews) {
    if (!apps.has(name)) {
      v.charts.destroy();
      v.article.remove();
      appViews.delete(name);
    }
  }
  const seriesApps = series.ok && series.body && series.body.apps ? series.body.apps : null;
  for (const [name, a] of apps) {
    let v = appViews.get(name);
    if (!v) v = newAppView(name, parent);
    v.article.classList.toggle('degraded', a.healthy < a.desired);
    v.head.replaceChildren(...appSummary(a));
    renderInstances(v.table, a.instances, nodes.length > 1);
    const h = histories[name];
    v.charts.update(seriesApps ? seriesApps[name] || {} : null, h ? h.deploys : []);
  }
}

function newAppView(name, parent) {
  const head = el('p', { class: 'summary' });
  const table = el('table', { class: 'instances' },
    el('thead', {}, el('tr', {}, ...['instance', 'release', 'zone', 'state', 'health', 'restarts', 'in flight', 'requests', 'memory'].map((h) => el('th', {}, h)))),
    el('tbody'));
  const grid = el('div', { class: 'charts' });
  const article = el('article', { class: 'app', 'data-app': name }, el('h3', {}, name), head, table, grid);
  parent.append(article);
  const v = { article, head, table, charts: new AppCharts(name, grid) };
  appViews.set(name, v);
  return v;
}

function appSummary(a) {
  const parts = [
    el('span', {}, 'release ', el('b', {}, a.release || '–')),
    el('span', {}, 'healthy ', el('b', {}, a.healthy + '/' + a.desired)),
  ];
  if (a.gate && a.gate.mode && a.gate.mode !== 'open') {
    parts.push(el('span', { class: 'badge ' + a.gate.mode }, a.gate.mode + (a.gate.message ? ': ' + a.gate.message : '')));
  }
  const dep = a.deploy;
  if (dep && !dep.result) {
    parts.push(el('span', { class: 'badge running' }, 'deploying ' + dep.to + ' (' + (dep.phase || 'starting') + ' ' + (dep.ready || 0) + '/' + (dep.want || 0) + ')'));
  }
  return parts;
}

function renderInstances(table, instances, showNode) {
  const rows = instances.map((i) => row({ class: 'instance ' + (i.health || ''), 'data-instance': i.name, 'data-node': i.node },
    showNode ? i.node + '/' + i.name : i.name,
    i.release, i.zone, badge(i.state, i.crash_loop ? 'crashloop' : i.state), badge(i.health),
    i.restarts, i.in_flight, fmtCount(i.requests), memoryCell(i)));
  table.tBodies[0].replaceChildren(...rows);
}

function memoryCell(i) {
  const used = i.memory_bytes != null ? i.memory_bytes : i.rss_bytes;
  const limit = i.memory_limit ? fmtBytes(i.memory_limit) : '';
  let text = used != null ? fmtBytes(used) + (limit ? ' / ' + limit : '') : (limit ? 'limit ' + limit : '–');
  if (i.oom_kills) text += ' (' + i.oom_kills + ' OOM)';
  return el('td', { title: i.memory_note || null }, text);
}

// renderSites shows the sites (GET /v1/status's sites): which leads, which
// are up, the database's lag in each, and an emergency in progress.
function renderSites(s, now) {
  const section = document.getElementById('sites-section');
  section.hidden = !s;
  if (!s) return;
  section.classList.toggle('degraded', !!s.emergency);
  let summary = (s.leading || 'no site') + ' leads (leader site ' + s.leader_site + '); this node is in ' + s.site + ', ' + s.mode + ' mode';
  if (s.emergency) {
    const e = s.emergency;
    summary = 'EMERGENCY, declared ' + fmtAgo(now, e.since) + ': site ' + e.site + ' unreachable (' + e.cause + '); ' + summary;
  }
  document.getElementById('sites-summary').textContent = summary;
  fillTable('sites', (s.sites || []).map((x) => row({ 'data-site': x.name },
    x.name, (x.leader ? 'leader' : 'follower') + (x.primary ? ', primary' : ''), badge(x.up ? 'up' : 'down'),
    (x.up_nodes || []).length + '/' + (x.nodes || []).length,
    x.lag_bytes >= 0 ? fmtBytes(x.lag_bytes) + ', ' + x.lag_seconds.toFixed(1) + ' s' : '–')));
}

// renderChecks shows the uptime checks; a 404 means the node has none (or
// does not do checks), and the section stays hidden.
function renderChecks(r, now) {
  const section = document.getElementById('checks-section');
  const checks = r.ok && Array.isArray(r.body) ? r.body : [];
  section.hidden = checks.length === 0;
  fillTable('checks', checks.map((c) => row({ 'data-check': c.name, class: 'check ' + c.state },
    el('td', { title: c.url }, c.name), badge(c.state),
    c.since ? fmtAgo(now, c.since) : '–',
    c.latency_ms != null ? c.latency_ms.toFixed(0) + ' ms' : '–',
    c.last_checked ? fmtAgo(now, c.last_checked) : '–',
    el('td', {}, strip(c.history || [])),
    c.last_error || '')));
}

function strip(history) {
  return el('span', { class: 'strip' }, ...history.slice(-40).map((h) => el('i', {
    class: h.state,
    title: fmtTime(h.at) + ' ' + h.state + (h.latency_ms != null ? ' ' + h.latency_ms.toFixed(0) + ' ms' : ''),
  })));
}

function renderDeploys(histories, now) {
  const all = [];
  for (const [app, h] of Object.entries(histories)) for (const d of h.deploys || []) all.push(Object.assign({ app }, d));
  all.sort((a, b) => Date.parse(b.started) - Date.parse(a.started));
  fillTable('deploys', all.slice(0, 10).map((d) => row({ 'data-deploy': d.app + '/' + d.id },
    d.app, d.id, d.kind, (d.from || '∅') + ' → ' + d.to, d.who, fmtAgo(now, d.started),
    d.result ? fmtTook(d.duration / 1e6) : fmtAge(now - Date.parse(d.started)) + '…',
    badge(d.result || 'running', (d.result || 'running').replace(/ /g, '-')))), 'no deploys yet');
}

function renderJobs(r, now) {
  const jobs = r.ok && r.body && Array.isArray(r.body.jobs) ? r.body.jobs : [];
  document.getElementById('jobs-section').hidden = jobs.length === 0;
  fillTable('jobs', jobs.map((j) => {
    const last = j.running || (j.history || [])[(j.history || []).length - 1];
    return row({ 'data-job': j.name }, j.name, j.schedule, j.next ? fmtTime(j.next) : '–',
      last ? badge(last.result) : badge(''), j.runs, j.failed, j.skipped, j.missed);
  }));
  const runs = [];
  for (const j of jobs) for (const run of j.history || []) runs.push(Object.assign({ job: j.name }, run));
  const when = (run) => Date.parse(run.started || run.scheduled || 0);
  runs.sort((a, b) => when(b) - when(a));
  fillTable('runs', runs.slice(0, 10).map((run) => row({ 'data-run': run.job + '/' + run.id },
    run.job, run.id, run.trigger, run.started ? fmtAgo(now, run.started) : (run.scheduled ? fmtTime(run.scheduled) : '–'),
    run.started && run.finished ? fmtTook(Date.parse(run.finished) - Date.parse(run.started)) : '–',
    badge(run.result), run.exit_code, run.error || '')), 'no runs yet');
}

// renderBackup shows the node's view of the backups (status.backup): the
// last base backup, the last restore test, this node's WAL archiver and
// the alarms raised.
function renderBackup(b, now) {
  document.getElementById('backup-section').hidden = !b;
  if (!b) return;
  const last = b.last_backup;
  const test = b.last_test;
  const a = b.archive;
  const alarms = b.alarms || [];
  let state = 'ok';
  if (alarms.length) state = 'failed';
  else if (!last) state = 'unknown';
  fillTable('backup', [row({ 'data-backup': state },
    b.store + (b.encrypted ? ' (encrypted)' : ''),
    last ? fmtAgo(now, last.finished) + ' · ' + last.id + ' from ' + last.source : 'none yet',
    last ? fmtBytes(last.stored_bytes) + ' of ' + fmtBytes(last.data_bytes) : '–',
    b.next_backup ? fmtTime(b.next_backup) : '–',
    test ? (test.ok ? 'passed ' : 'FAILED ') + fmtAgo(now, test.started) + (test.ok ? '' : ': ' + test.error) : 'none yet',
    a ? (a.last_archived ? a.last_archived + ' ' + fmtAgo(now, a.last_archived_at) : 'nothing yet') : '–',
    a && a.wal_waiting >= 0 ? a.wal_waiting + ' (' + fmtBytes(a.wal_waiting_bytes) + ')' + (a.disk_free >= 0 ? ', ' + fmtBytes(a.disk_free) + ' free' : '') : '–',
    badge(state === 'failed' ? 'alarm' : state, state))]);
  document.getElementById('backup-alarms').hidden = alarms.length === 0;
  fillTable('backup-alarms', alarms.map((al) => row({ 'data-backup-alarm': al.name },
    badge(al.name, 'failed'), al.node || '–', fmtAgo(now, al.since), al.message)));
}

// Formatting.

function fmtAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
  return Math.floor(s / 86400) + 'd' + String(Math.floor(s / 3600) % 24).padStart(2, '0') + 'h';
}

// fmtTook is a duration that may be short: a deploy, a job run.
function fmtTook(ms) {
  if (ms < 1000) return Math.round(ms) + 'ms';
  if (ms < 10000) return (ms / 1000).toFixed(1) + 's';
  return fmtAge(ms);
}

function fmtAgo(now, iso) {
  return fmtAge(now - Date.parse(iso)) + ' ago';
}

function fmtTime(iso) {
  const d = new Date(iso);
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

function fmtCount(n) {
  if (n == null) return '–';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(n);
}

function fmtBytes(b) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(b < 10 ? 1 : 0) : b) + ' ' + units[i];
}

window.addEventListener('resize', () => {
  requestAnimationFrame(() => { for (const v of appViews.values()) v.charts.resize(); });
});
