// The health proxy's page: probe every site of this service from the
// browser and send the browser to the one that should serve it — the
// leading site if it answers, else the first site that does.
//
// It runs in two places: at the proxy's path (".../?to=/some/page"), and,
// through the service worker (sw.js), in place of a page whose site did
// not answer; then it sends the browser to that same page at another site.
// No framework and no build step: this file is served as it is.
'use strict';

const prefix = new URL('.', document.currentScript.src).pathname;

// Errors end up in the hidden <pre id="errors">, where tests (and a
// curious user) find them.
const pageErrors = [];
function reportError(msg) {
  pageErrors.push(String(msg));
  const pre = document.getElementById('errors');
  pre.textContent = pageErrors.join('\n');
  pre.dataset.count = String(pageErrors.length);
}
window.addEventListener('error', (e) => reportError('error: ' + e.message));
window.addEventListener('unhandledrejection', (e) => reportError('unhandled rejection: ' + (e.reason && e.reason.message || e.reason)));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms) => (ms / 1000).toLocaleString('en', { maximumFractionDigits: 1 }) + ' s';

// destination returns the path (with query and fragment) to open at the
// chosen site, and whether this page stands in for it (served by the
// worker because the page's own site did not answer).
function destination() {
  if (!location.pathname.startsWith(prefix)) {
    return { path: location.pathname + location.search + location.hash, inPlace: true };
  }
  const to = new URLSearchParams(location.search).get('to');
  return { path: to && to.startsWith('/') ? to : '/', inPlace: false };
}

// siteURL joins a site's origin and a path, refusing anything that would
// leave the origin (a path such as "//evil.example" or "/\evil.example").
function siteURL(origin, path) {
  const u = new URL(path, origin);
  if (u.origin !== new URL(origin).origin) throw new Error('refused to leave ' + origin + ' for ' + path);
  return u.href;
}

async function loadConfig() {
  const r = await fetch(prefix + 'config.json', { cache: 'no-cache', credentials: 'omit' });
  if (!r.ok) throw new Error('config.json: HTTP ' + r.status);
  return r.json();
}

// probe asks one site whether it is up. The answer names the sites that
// site believes should serve, the leading one first.
async function probe(site, cfg) {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    const r = await fetch(site.origin + cfg.probe_path, {
      mode: 'cors', cache: 'no-store', credentials: 'omit', redirect: 'error',
      signal: AbortSignal.timeout(cfg.probe_timeout_ms),
    });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const body = await r.json();
    const serving = Array.isArray(body.serving) ? body.serving.filter((s) => typeof s === 'string') : [];
    return { ok: true, ms: ms(), serving };
  } catch (e) {
    const why = e && e.name === 'TimeoutError' ? 'no answer within ' + seconds(cfg.probe_timeout_ms) : 'unreachable';
    return { ok: false, ms: ms(), why };
  }
}

// preference orders the sites: the leading site first, as named by the
// most preferred site that answered, then the configuration's order (the
// leading site first, as the node that served it knew).
function preference(sites, results) {
  let leader = null;
  for (const s of sites) {
    const r = results.get(s.name);
    if (r && r.ok && r.serving.length) {
      leader = r.serving[0];
      break;
    }
  }
  const first = sites.filter((s) => s.name === leader);
  return first.concat(sites.filter((s) => s.name !== leader));
}

// round probes every site at once and resolves with the site to go to as
// soon as it is known, or null when none answered. A site still being
// probed that comes before every site that answered is waited for (at
// most the probe timeout). skip(site) leaves a site out.
function round(cfg, skip) {
  return new Promise((resolve) => {
    const results = new Map();
    const decide = () => {
      for (const s of preference(cfg.sites, results)) {
        if (skip(s)) continue;
        const r = results.get(s.name);
        if (r === undefined) return;
        if (r.ok) return resolve(s);
      }
      if (results.size === cfg.sites.length) resolve(null);
    };
    for (const s of cfg.sites) {
      show(s, null);
      probe(s, cfg).then((r) => {
        results.set(s.name, r);
        show(s, r);
        decide();
      });
    }
  });
}

// show renders one site's line; r null means it is being probed.
function show(site, r) {
  const ul = document.getElementById('sites');
  let li = ul.querySelector('li[data-site="' + CSS.escape(site.name) + '"]');
  if (!li) {
    li = document.createElement('li');
    li.dataset.site = site.name;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = site.name;
    const state = document.createElement('span');
    state.className = 'state';
    li.append(name, state);
    ul.append(li);
  }
  li.dataset.state = r === null ? 'probing' : r.ok ? 'up' : 'down';
  li.querySelector('.state').textContent = r === null ? 'asking…' : r.ok ? 'answered in ' + r.ms + ' ms' : r.why;
}

function say(state, title, message) {
  document.body.dataset.state = state;
  document.getElementById('title').textContent = title;
  document.getElementById('message').textContent = message;
}

function go(site, path) {
  const href = siteURL(site.origin, path);
  document.body.dataset.choice = site.name;
  document.querySelector('li[data-site="' + CSS.escape(site.name) + '"]').dataset.chosen = '';
  const t = document.getElementById('target');
  t.textContent = href;
  t.hidden = false;
  say('moving', 'Going to ' + site.name + '…', 'This site answers; opening the page there.');
  location.replace(href);
}

// registerWorker installs the service worker on this origin, so that the
// next visit whose site does not answer is routed from the browser.
function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register(prefix + 'sw.js', { scope: '/' }).catch(() => {});
}

async function main() {
  registerWorker();
  const dest = destination();
  const cfg = await loadConfig();
  if (!cfg.sites.length) throw new Error('no site is configured');
  for (let attempt = 0; ; attempt++) {
    say('probing', 'Finding a site that answers…', 'Asking each site of this service whether it is up.');
    // In place of a page whose site did not answer, that site is tried
    // last: only once no other one answers.
    const skip = (s) => dest.inPlace && attempt === 0 && s.origin === location.origin && cfg.sites.length > 1;
    const site = await round(cfg, skip);
    if (site) return go(site, dest.path);
    say('waiting', 'No site answers', 'None of the sites answered. Trying again in ' + seconds(cfg.probe_interval_ms) + '.');
    await sleep(cfg.probe_interval_ms);
  }
}

main().catch((e) => {
  reportError(e && e.message || e);
  say('error', 'This page could not run', String(e && e.message || e));
});
