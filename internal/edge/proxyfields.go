package edge

import "net/http"

// dropProxyFields removes from a request going to the app the fields a
// client must not choose:
//
//   - fields only a proxy in front of the edge sets — the URL it
//     rewrote, the path prefix it stripped, the port, scheme or client
//     address it saw — unless the peer is a trusted proxy. Frameworks
//     route and build URLs on them once their proxy is trusted (Symfony's
//     and Laminas's X-Original-URL and X-Rewrite-URL, X-Forwarded-Prefix,
//     X-Forwarded-Port), and the cache does not key on them: from any
//     client, they would let one page be stored under another's URL.
//     X-Forwarded-For, -Host and -Proto and Forwarded are rewritten by
//     setForwarded instead.
//   - method overrides on GET and HEAD, from anyone: they would make the
//     app do something else than the read the cache keys the response
//     as. On other methods (a POST tunnelling PUT or DELETE, the
//     fields' purpose) they pass.
func dropProxyFields(h http.Header, trusted bool, method string) {
	read := method == http.MethodGet || method == http.MethodHead
	for k := range h {
		if !trusted && proxyOnlyField(k) || read && methodOverrideField(k) {
			delete(h, k)
		}
	}
}

// proxyOnlyField reports whether k (canonical) is set by proxies only.
func proxyOnlyField(k string) bool {
	switch k {
	case "X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "X-Original-Host", "X-Original-Method",
		"X-Forwarded-Prefix", "X-Forwarded-Path", "X-Forwarded-Uri", "X-Forwarded-Port", "X-Forwarded-Server",
		"X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Method", "X-Url-Scheme", "Front-End-Https", "X-Host",
		"X-Real-Ip", "X-Client-Ip", "Client-Ip", "True-Client-Ip", "X-Cluster-Client-Ip", "X-Original-Forwarded-For",
		"Cf-Connecting-Ip", "Fastly-Client-Ip":
		return true
	}
	return false
}

// methodOverrideField reports whether k (canonical) overrides the method.
func methodOverrideField(k string) bool {
	switch k {
	case "X-Http-Method-Override", "X-Http-Method", "X-Method-Override":
		return true
	}
	return false
}
