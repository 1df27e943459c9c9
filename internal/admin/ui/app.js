// tandem status page: boot, error capture, the token, polling the admin API.
// render.js draws the tables, charts.js the charts (with the vendored uPlot).
// No framework and no build step: these files are served as they are.
'use strict';

// Errors of any kind end up in the hidden <pre id="errors">, where tests
// (and a curious operator) find them. The page writes nothing else to the
// console.
const pageErrors = [];

function reportError(msg) {
  pageErrors.push(String(msg));
  const pre = document.getElementById('errors');
  if (pre) {
    pre.textContent = pageErrors.join('\n');
    pre.dataset.count = String(pageErrors.length);
  }
}

window.addEventListener('error', (e) => {
  const t = e.target;
  if (t && t !== window && (t.src || t.href)) {
    reportError('failed to load ' + (t.src || t.href));
    return;
  }
  reportError('error: ' + e.message + ' at ' + e.filename + ':' + e.lineno);
}, true);
window.addEventListener('unhandledrejection', (e) => {
  const r = e.reason;
  reportError('unhandled rejection: ' + (r && r.stack ? r.stack : String(r)));
});
{
  const consoleError = console.error.bind(console);
  console.error = (...args) => {
    reportError('console.error: ' + args.map(String).join(' '));
    consoleError(...args);
  };
}

const POLL_MS = 2000;
const FETCH_TIMEOUT_MS = 5000;
const TOKEN_KEY = 'tandem.token';
let lastUpdate = null; // when the page last rendered fresh data

// The token: from the URL fragment (/#token=...; browsers never send the
// fragment), else the login form; kept for the tab's life in sessionStorage.
const auth = {
  get() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (_) { return auth.mem || ''; }
  },
  set(t) {
    auth.mem = t;
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) { /* storage disabled: the token lives in memory only */ }
  },
  mem: '',
  // fromFragment moves a token in the fragment to storage and removes it
  // from the address bar and the tab's history entry.
  fromFragment() {
    if (location.hash.length < 2) return;
    const params = new URLSearchParams(location.hash.slice(1));
    if (!params.has('token')) return;
    auth.set(params.get('token'));
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
  },
};

// api fetches a JSON endpoint with the token. It never throws: the answer
// says ok, the HTTP status (0 when nothing answered) and the body or error.
async function api(path) {
  const headers = { Accept: 'application/json' };
  const token = auth.get();
  if (token) headers.Authorization = 'Bearer ' + token;
  let resp;
  try {
    resp = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (e) {
    return { ok: false, status: 0, error: e && e.name === 'TimeoutError' ? 'no answer within 5 s' : 'no answer (' + e.message + ')' };
  }
  let body = null;
  try { body = await resp.json(); } catch (_) { /* not JSON: keep the status */ }
  const error = body && body.error ? body.error : 'HTTP ' + resp.status;
  return { ok: resp.ok, status: resp.status, body, error };
}

// poll fetches everything the page shows and renders it.
async function pollOnce() {
  const st = await api('/v1/status');
  if (!st.ok) {
    showProblem(st);
    return;
  }
  const apps = (st.body.apps || []).map((a) => a.name);
  const [series, jobs, checks, ...histories] = await Promise.all([
    api('/v1/series?window=15m'),
    api('/v1/jobs'),
    api('/v1/checks'),
    ...apps.map((a) => api('/v1/apps/' + encodeURIComponent(a) + '/history')),
  ]);
  const denied = [series, jobs, checks, ...histories].find((r) => r.status === 401 || r.status === 403);
  if (denied) {
    showProblem(denied);
    return;
  }
  clearProblem();
  const hist = {};
  apps.forEach((a, i) => { if (histories[i].ok) hist[a] = histories[i].body; });
  lastUpdate = new Date();
  render({ status: st.body, series, jobs, checks, histories: hist, now: lastUpdate });
  document.body.dataset.ready = '1';
}

// Problems with the node itself get the banner; the last data stays
// on screen, dimmed, until the node answers again.
function showProblem(r) {
  const banner = document.getElementById('banner');
  const login = document.getElementById('login');
  let msg;
  if (r.status === 401) {
    msg = auth.get()
      ? 'The node refused the token (HTTP 401). Enter a token with the read scope.'
      : 'This node needs a token (HTTP 401). Enter one with the read scope, or open the address `tandem ui` prints.';
  } else if (r.status === 403) {
    msg = 'The token may not read this node (HTTP 403): it needs the read scope.';
  } else if (r.status === 0) {
    msg = 'The node at ' + location.host + ' does not answer: ' + r.error + '. Retrying every ' + POLL_MS / 1000 + ' s.';
  } else {
    msg = 'The node answered HTTP ' + r.status + ': ' + r.error + '. Retrying every ' + POLL_MS / 1000 + ' s.';
  }
  if (lastUpdate) msg += ' Data shown is from ' + lastUpdate.toLocaleTimeString() + '.';
  banner.textContent = msg;
  banner.dataset.status = String(r.status);
  banner.hidden = false;
  login.hidden = !(r.status === 401 || r.status === 403);
  document.getElementById('main').classList.add('stale');
}

function clearProblem() {
  const banner = document.getElementById('banner');
  banner.hidden = true;
  delete banner.dataset.status;
  document.getElementById('login').hidden = true;
  document.getElementById('main').classList.remove('stale');
}

// Polling: one poll at a time, every POLL_MS, and none while the tab is
// hidden; the first poll after it shows again is immediate.
const poller = {
  timer: 0,
  busy: false,
  schedule() {
    clearTimeout(poller.timer);
    poller.timer = 0;
    if (!document.hidden) poller.timer = setTimeout(poller.tick, POLL_MS);
  },
  async tick() {
    poller.timer = 0;
    if (document.hidden || poller.busy) return;
    poller.busy = true;
    try {
      await pollOnce();
    } catch (e) {
      reportError('poll: ' + (e && e.stack ? e.stack : e));
    } finally {
      poller.busy = false;
      poller.schedule();
    }
  },
  now() {
    clearTimeout(poller.timer);
    poller.tick();
  },
};

document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    clearTimeout(poller.timer);
    poller.timer = 0;
  } else {
    poller.now();
  }
});

document.addEventListener('DOMContentLoaded', () => {
  auth.fromFragment();
  const form = document.getElementById('login');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const input = document.getElementById('token');
    auth.set(input.value.trim());
    input.value = '';
    poller.now();
  });
  document.getElementById('forget').addEventListener('click', () => {
    auth.set('');
    poller.now();
  });
  if (typeof uPlot === 'undefined') reportError('the chart library did not load');
  poller.now();
});
