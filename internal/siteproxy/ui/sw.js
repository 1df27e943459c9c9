// The health proxy's service worker. Installed at the scope "/" of an
// origin (the edge sends Service-Worker-Allowed: /), it keeps the proxy's
// page in the browser's cache and watches the origin's page loads: when
// one gets no answer — the site's network or DNS is gone — it answers with
// the cached page in its place, which sends the browser to the same page
// at a site that answers. Everything else passes through untouched.
'use strict';

const VERSION = '{{VERSION}}'; // changes with these files: the browser installs the new worker
const TIMEOUT = {{TIMEOUT_MS}}; // sites.health_proxy.probe_timeout, in ms
const PREFIX = '{{PREFIX}}'; // sites.health_proxy.path: also right when imported by an app's own worker
const CACHE = 'tandem-sites-' + VERSION;
const PAGE = PREFIX;
const CONFIG = PREFIX + 'config.json';
const PROBE = PREFIX + 'probe';
const FILES = [PAGE, PREFIX + 'app.js', PREFIX + 'app.css', CONFIG];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(FILES.map((f) => new Request(f, { cache: 'reload', credentials: 'omit' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('tandem-sites-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || url.pathname === PROBE) return;
  if (url.pathname === CONFIG) {
    event.respondWith(staleWhileRevalidate(event, req));
  } else if (FILES.includes(url.pathname)) {
    event.respondWith(cacheFirst(req, url.pathname));
  } else if (req.mode === 'navigate' && !url.pathname.startsWith(PREFIX)) {
    event.respondWith(navigate(req));
  }
});

// navigate loads a page; if its site does not answer, the cached proxy
// page stands in for it. A page that is merely slow is not taken for a
// dead site: past TIMEOUT the site is probed, and a site that answers the
// probe gets all the time the browser gives the page.
async function navigate(req) {
  const pending = fetch(req);
  const first = await Promise.race([
    pending.then(() => 'answered', () => 'failed'),
    sleep(TIMEOUT).then(() => 'slow'),
  ]);
  if (first === 'answered') return pending;
  if (first === 'slow' && await siteAnswers()) {
    try {
      return await pending;
    } catch {
      // it went away meanwhile
    }
  }
  const page = await caches.match(PAGE, { cacheName: CACHE });
  return page || pending;
}

// siteAnswers probes this worker's own site.
async function siteAnswers() {
  try {
    const r = await fetch(PROBE, { cache: 'no-store', credentials: 'omit', signal: AbortSignal.timeout(TIMEOUT) });
    return r.ok;
  } catch {
    return false;
  }
}

// The page's own files are cached by version, and served from the cache.
async function cacheFirst(req, path) {
  const hit = await caches.match(path, { cacheName: CACHE });
  return hit || fetch(req);
}

// The configuration (the sites and their order) comes from the cache at
// once, and is refreshed from the network for the next time.
async function staleWhileRevalidate(event, req) {
  const cache = await caches.open(CACHE);
  const refresh = fetch(req, { cache: 'no-cache' }).then((r) => {
    if (r.ok) return cache.put(CONFIG, r.clone()).then(() => r);
    return r;
  });
  const hit = await cache.match(CONFIG);
  if (hit) {
    event.waitUntil(refresh.catch(() => {}));
    return hit;
  }
  return refresh;
}
