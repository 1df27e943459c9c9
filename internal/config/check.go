package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// checker fills the defaults that depend on the file's location or the host,
// makes paths absolute and validates every value of a decoded Stack,
// reporting problems to its collector with the line of the offending field.
type checker struct {
	c  *collector
	st *Stack
}

// nameRE is the form of app, cluster, zone and site names: usable in DNS
// labels, metric labels and file names.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// nodeRE is the form of node names, which default to the host name.
var nodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (k *checker) check() {
	k.cluster()
	k.clusterNet()
	k.edge()
	k.cache()
	k.admin()
	k.logging()
	k.tracing()
	k.apps()
	k.jobs()
	k.checks()
	k.upstreams()
	k.storage()
	k.routes()
	k.conflicts()
	k.database()
	k.sites()
	k.backup()
}

func (k *checker) cluster() {
	cl := &k.st.Cluster
	k.name("cluster.name", cl.Name)
	k.name("cluster.zone", cl.Zone)
	k.name("cluster.site", cl.Site)
	if cl.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			k.c.addf("cluster.node", "not set and the host name is unknown (%v): set cluster.node", err)
		} else if len(h) > 253 || !nodeRE.MatchString(h) {
			k.c.addf("cluster.node", "not set and the host name %q is not a usable node name: set cluster.node", h)
		}
		cl.Node = h
	} else if len(cl.Node) > 253 || !nodeRE.MatchString(cl.Node) {
		k.c.addf("cluster.node", "must be letters, digits, '.', '_' and '-', starting with a letter or digit, got %q", cl.Node)
	}
	cl.DataDir = k.path("cluster.data_dir", cl.DataDir)
}

// name checks an identifier: [a-z0-9][a-z0-9-]*, at most 63 characters.
func (k *checker) name(path, s string) {
	if len(s) > 63 || !nameRE.MatchString(s) {
		k.c.addf(path, "must be lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters, got %q", s)
	}
}

// path makes a file path absolute against the stack file's directory.
func (k *checker) path(field, p string) string {
	if p == "" {
		k.c.addf(field, "must not be empty")
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(k.st.Dir, p)
	}
	return filepath.Clean(p)
}

func (k *checker) edge() {
	e := &k.st.Edge
	if e.Listen == "off" {
		e.Listen = ""
		if e.TLS == nil {
			k.c.addf("edge.listen", `is "off" and edge.tls is not set: the edge would not listen at all`)
		}
	} else {
		k.listen("edge.listen", e.Listen)
	}
	if e.TLS != nil {
		k.tls(e.TLS)
	}
	k.edgeLimits()
	switch e.AccessLog {
	case AccessLogStdout, AccessLogOff:
	default:
		e.AccessLog = k.path("edge.access_log", e.AccessLog)
	}
}

func (k *checker) tls(t *TLS) {
	k.listen("edge.tls.listen", t.Listen)
	k.certPair("edge.tls", &t.Cert, &t.Key)
}

// certPair checks the cert and key files of the TLS section at field.
func (k *checker) certPair(field string, cert, key *string) {
	switch {
	case *cert == "" && *key == "":
		k.c.addf(field, "cert and key are required")
		return
	case *cert == "":
		k.c.addf(field+".cert", "required together with %s.key", field)
	case *key == "":
		k.c.addf(field+".key", "required together with %s.cert", field)
	}
	*cert = k.file(field+".cert", *cert)
	*key = k.file(field+".key", *key)
}

// admin checks the admin API's listener: anywhere but loopback it must
// serve HTTPS, since its tokens would otherwise cross the network in
// clear text.
func (k *checker) admin() {
	a := &k.st.Admin
	k.listen("admin.listen", a.Listen)
	if a.TLS != nil {
		k.certPair("admin.tls", &a.TLS.Cert, &a.TLS.Key)
		return
	}
	if host, _, err := net.SplitHostPort(a.Listen); err == nil && !isLoopback(host) {
		k.c.addf("admin.tls", "required: admin.listen %q is not a loopback address, and the admin API is served to other machines over HTTPS only (set admin.tls.cert and admin.tls.key, or listen on 127.0.0.1)", a.Listen)
	}
}

// isLoopback reports whether a listen host is reachable from this
// machine only. "" (every interface) is not.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// file makes p absolute and checks that it is a readable regular file.
func (k *checker) file(field, p string) string {
	if p == "" {
		return ""
	}
	p = k.path(field, p)
	f, err := os.Open(p)
	if err != nil {
		k.c.addf(field, "cannot read %s: %v", p, unwrapPathError(err))
		return p
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		k.c.addf(field, "%s is not a regular file", p)
	}
	return p
}

// unwrapPathError drops the "open /path:" prefix the message already has.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// listen checks a host:port listen address.
func (k *checker) listen(field, addr string) {
	if msg := checkAddr(addr); msg != "" {
		k.c.addf(field, "%s", msg)
	}
}

// checkAddr returns what is wrong with a host:port listen address, or "".
func checkAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, perr := strconv.ParseUint(addr, 10, 16); perr == nil {
			return fmt.Sprintf("must be host:port, got %q (did you mean \":%s\"?)", addr, addr)
		}
		return fmt.Sprintf(`must be host:port, e.g. ":8080" or "127.0.0.1:7070", got %q`, addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("port must be a number from 0 to 65535, got %q", port)
	}
	if host == "" {
		return ""
	}
	if strings.ContainsAny(host, ":%") || net.ParseIP(host) != nil {
		if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
			return fmt.Sprintf("invalid IP address %q", host)
		}
		return ""
	}
	if !validHostname(host) {
		return fmt.Sprintf("invalid host %q: use an IP address or a host name", host)
	}
	return ""
}

// validHostname reports whether s is a DNS name of letters, digits, '-'
// and '.'.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// conflicts refuses two listeners on the same address.
func (k *checker) conflicts() {
	type listener struct{ field, addr string }
	ls := []listener{{"edge.listen", k.st.Edge.Listen}}
	if t := k.st.Edge.TLS; t != nil {
		ls = append(ls, listener{"edge.tls.listen", t.Listen})
	}
	ls = append(ls, listener{"admin.listen", k.st.Admin.Listen})
	for i, a := range ls {
		for _, b := range ls[:i] {
			if addrsOverlap(a.addr, b.addr) {
				k.c.addf(a.field, "%q is the same address as %s (%q)", a.addr, b.field, b.addr)
			}
		}
	}
}

// addrsOverlap reports whether two listen addresses would bind the same
// port on a shared interface. Port 0 (any free port) never conflicts.
func addrsOverlap(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || any(ha) || any(hb)
}

func (k *checker) logging() {
	switch k.st.Log.Format {
	case LogJSON, LogText:
	default:
		k.c.addf("log.format", "must be json or text, got %q", k.st.Log.Format)
	}
}

// positive checks that a duration is > 0.
func (k *checker) positive(field string, d Duration) {
	if d <= 0 {
		k.c.addf(field, "must be > 0, got %s", d)
	}
}

// atLeast checks an integer lower bound.
func (k *checker) atLeast(field string, n, lo int) {
	if n < lo {
		k.c.addf(field, "must be >= %d, got %d", lo, n)
	}
}

// between checks integer bounds.
func (k *checker) between(field string, n, lo, hi int) {
	switch {
	case n < lo:
		k.c.addf(field, "must be >= %d, got %d", lo, n)
	case n > hi:
		k.c.addf(field, "must be <= %d, got %d", hi, n)
	}
}
