// Installs the health proxy's service worker on this origin, so that a
// later visit whose site does not answer is sent to a site that does.
// An app adds it to its pages with
//   <script src="/.tandem/sites/register.js" async></script>
// (the path being sites.health_proxy.path). It does nothing where the
// browser has no service workers.
'use strict';
(function () {
  const script = document.currentScript;
  if (!script || !('serviceWorker' in navigator)) return;
  const prefix = new URL('.', script.src).pathname;
  navigator.serviceWorker.register(prefix + 'sw.js', { scope: '/' }).catch(() => {
    // Not fatal: the app works without it (an http origin that is not
    // loopback, a private window, a browser setting).
  });
})();
