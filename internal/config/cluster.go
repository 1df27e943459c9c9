package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
)

// clusterNet checks how this node is reached by the others: the advertised
// address, the three cluster ports, and an external etcd if one is named.
func (k *checker) clusterNet() {
	cl := &k.st.Cluster
	switch ip := net.ParseIP(cl.Advertise); {
	case cl.Advertise == "":
		k.c.addf("cluster.advertise", "must be an IP address or host name other nodes reach this node at")
	case ip != nil && ip.IsUnspecified():
		k.c.addf("cluster.advertise", "%q is not an address other nodes can reach; give this node's own IP", cl.Advertise)
	case ip == nil && !hostRE.MatchString(cl.Advertise):
		k.c.addf("cluster.advertise", "must be an IP address or host name, got %q", cl.Advertise)
	}
	ports := []struct {
		field string
		port  int
	}{{"cluster.peer_port", cl.PeerPort}, {"cluster.client_port", cl.ClientPort}, {"cluster.node_port", cl.NodePort}}
	for i, p := range ports {
		k.between(p.field, p.port, 1, 65535)
		for _, q := range ports[:i] {
			if p.port == q.port {
				k.c.addf(p.field, "%d is also %s", p.port, q.field)
			}
		}
		for _, l := range []struct{ field, addr string }{{"edge.listen", k.st.Edge.Listen}, {"admin.listen", k.st.Admin.Listen}} {
			if _, port, err := net.SplitHostPort(l.addr); err == nil && port == strconv.Itoa(p.port) {
				k.c.addf(p.field, "%d is also the port of %s (%q)", p.port, l.field, l.addr)
			}
		}
	}
	if e := cl.Etcd; e != nil {
		k.externalEtcd(e)
	}
}

// hostRE is the form of a DNS host name.
var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

func (k *checker) externalEtcd(e *ExternalEtcd) {
	if len(e.Endpoints) == 0 {
		k.c.addf("cluster.etcd.endpoints", "at least one endpoint is required, e.g. https://10.0.0.5:2379")
	}
	for i, ep := range e.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			k.c.addf(fmt.Sprintf("cluster.etcd.endpoints[%d]", i), "must be a URL like https://host:2379, got %q", ep)
		}
	}
	switch {
	case e.Cert == "" && e.Key != "":
		k.c.addf("cluster.etcd.cert", "required together with cluster.etcd.key")
	case e.Key == "" && e.Cert != "":
		k.c.addf("cluster.etcd.key", "required together with cluster.etcd.cert")
	}
	e.CA = k.file("cluster.etcd.ca", e.CA)
	e.Cert = k.file("cluster.etcd.cert", e.Cert)
	e.Key = k.file("cluster.etcd.key", e.Key)
}
