// tandem status page: the stack's PostgreSQL as this node sees it, from
// status.database (absent when the stack has no database: the section
// stays hidden). Uses render.js's el, row, badge and fillTable.
'use strict';

function renderDatabase(db) {
  const section = document.getElementById('database-section');
  section.hidden = !db;
  if (!db) return;
  section.dataset.primary = db.leader || '';
  section.dataset.syncStandby = db.sync_standby || '';
  document.getElementById('database-summary').replaceChildren(...databaseSummary(db));
  document.getElementById('database-warnings').replaceChildren(...databaseWarnings(db));
  const members = db.members || [];
  // Lag is behind the primary: nothing to measure while there is none.
  // A member that has published no replay position yet (0/0: stopped,
  // starting) is not behind by the primary's whole WAL.
  const lagged = (m) => db.leader && !m.leader && m.replay_lsn !== '0/0';
  fillTable('database-members', members.map((m) => row(
    { 'data-member': m.name, 'data-role': m.role, 'data-lag-bytes': lagged(m) ? m.lag_bytes : null, class: 'member ' + m.role },
    el('td', { title: m.addr }, m.name + (m.leader ? ' ★' : '')),
    badge(m.role), m.zone || '–', m.timeline || '–', m.lsn, m.replay_lsn,
    lagged(m) ? fmtLag(m) : '–',
    m.sync ? badge(m.sync, m.name === db.sync_standby ? 'sync' : m.sync) : '–')), 'no member has published its state');
  const routes = document.getElementById('database-routes');
  routes.dataset.write = db.primary || '';
  routes.dataset.read = db.standby || '';
  routes.replaceChildren(
    el('span', {}, 'this node (' + db.node + ') sends DATABASE_URL to ', el('b', {}, db.primary || 'nowhere: connections wait, then get 57P03')),
    el('span', {}, 'DATABASE_READ_URL to ', el('b', {}, db.standby || 'nowhere')));
}

function databaseSummary(db) {
  const parts = [];
  if (db.leader) {
    parts.push(el('span', {}, 'primary ', el('b', { id: 'database-primary' }, db.leader), db.leader_cause ? ' (' + db.leader_cause + ')' : null));
    if (!db.primary) parts.push(el('span', { class: 'badge starting' }, 'promoting'));
  } else if (db.primary) {
    parts.push(el('span', {}, 'primary ', el('b', { id: 'database-primary' }, db.primary), ' (no lease)'));
  } else {
    parts.push(el('span', { id: 'database-primary', class: 'badge failing-over' }, 'failing over: no primary'));
  }
  if (db.sync_standby) {
    parts.push(el('span', {}, 'synchronous standby ', el('b', {}, db.sync_standby)));
  } else if (db.synchronous) {
    parts.push(el('span', { class: 'badge no-sync' }, 'no synchronous standby'));
  }
  parts.push(el('span', {}, 'replication ', el('b', {}, db.synchronous ? 'synchronous' : 'asynchronous')));
  if (db.role) parts.push(el('span', {}, 'this node\'s member ', el('b', {}, db.role)));
  return parts;
}

// databaseWarnings are what an operator must know before trusting the
// table: a primary kept without etcd, a view that may be old, a member
// stuck on an action, writes that wait for no standby.
function databaseWarnings(db) {
  const out = [];
  const warn = (kind, text) => out.push(el('p', { class: 'notice', 'data-warning': kind }, text));
  if (db.failsafe) warn('failsafe', 'Failsafe: the primary runs without etcd, kept by its synchronous standby. It steps down if it loses that standby too.');
  if (!db.store_reachable) warn('store', 'This node has not read the database\'s state from etcd recently: what is shown may be old.');
  if (db.synchronous && !db.sync_standby && db.leader) warn('no-sync', 'No synchronous standby: commits are acknowledged by the primary alone until a standby catches up; a failover now could lose them.');
  if (db.error) warn('error', 'This member\'s last action failed: ' + db.error);
  if (db.one_zone) warn('one-zone', 'Every member is in zone ' + db.one_zone + ': losing that zone stops the database. Name members in two zones or more (database.postgres.members).');
  return out;
}

function fmtLag(m) {
  if (!m.lag_bytes && !m.lag_seconds && !m.streaming) return '–';
  return fmtBytes(m.lag_bytes || 0) + ', ' + fmtTook((m.lag_seconds || 0) * 1000);
}
