package config

import (
	"fmt"
	"strings"
)

// routeTarget checks what serves a route: exactly one of an app, an
// upstream and an app's bucket.
func (k *checker) routeTarget(p string, r *Route) {
	set := 0
	for _, s := range []string{r.App, r.Upstream, r.Storage} {
		if s != "" {
			set++
		}
	}
	switch {
	case set == 0:
		k.c.addf(p+".app", "required: the name of an app (%s), or upstream: or storage: instead", strings.Join(k.st.AppNames, ", "))
		return
	case set > 1:
		k.c.addf(p, "give one of app, upstream and storage: each names what serves the route")
		return
	}
	switch {
	case r.App != "":
		k.known(p+".app", "app", r.App, k.st.AppNames)
	case r.Upstream != "":
		k.known(p+".upstream", "upstream", r.Upstream, k.st.UpstreamNames)
	case k.st.Storage == nil:
		k.c.addf(p+".storage", "there is no storage section: a storage route serves an app's bucket (storage.apps)")
	default:
		k.known(p+".storage", "app with a bucket under storage.apps", r.Storage, k.st.Storage.AppNames)
		if r.StripPath {
			k.c.addf(p+".strip_path", "a storage route always strips its path (the rest is the object's key): leave strip_path out")
		}
	}
}

// known reports name if it is not one of names.
func (k *checker) known(field, what, name string, names []string) {
	for _, n := range names {
		if n == name {
			return
		}
	}
	hint := ""
	if best := closest(name, names); best != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", best)
	}
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	k.c.addf(field, "unknown %s %q%s; there are: %s", what, name, hint, list)
}
