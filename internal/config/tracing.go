package config

import (
	"fmt"
	"net/url"
	"strings"
)

// Tracing configures OpenTelemetry tracing of the requests the edge
// serves: spans are exported over OTLP/HTTP (protobuf) to a collector or
// any backend that accepts it (Jaeger, Tempo, SigNoz, Honeycomb...).
type Tracing struct {
	// OTLPEndpoint is the base URL of the OTLP/HTTP receiver, e.g.
	// "http://127.0.0.1:4318"; spans are posted to its path + "/v1/traces".
	// "" (the default) turns tracing off.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of new traces recorded, from 0 to 1; default
	// 1. A request carrying a traceparent follows its caller's decision.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the spans; default "tandem".
	ServiceName string `yaml:"service_name"`
	// Headers are sent with every export (an API key, for instance). Use
	// ${VAR} to keep secrets out of the file.
	Headers map[string]string `yaml:"headers"`
}

// Enabled reports whether spans are exported.
func (t Tracing) Enabled() bool { return t.OTLPEndpoint != "" }

func (t *Tracing) setDefaults() {
	t.SampleRatio = 1
	t.ServiceName = "tandem"
}

func (k *checker) tracing() {
	t := &k.st.Tracing
	if t.OTLPEndpoint != "" {
		if msg := checkOTLPEndpoint(t.OTLPEndpoint); msg != "" {
			k.c.addf("tracing.otlp_endpoint", "%s", msg)
		}
	}
	if r := t.SampleRatio; !(r >= 0 && r <= 1) {
		k.c.addf("tracing.sample_ratio", "must be >= 0 and <= 1, got %g", r)
	}
	if strings.TrimSpace(t.ServiceName) == "" {
		k.c.addf("tracing.service_name", "must not be empty")
	}
	for _, name := range sortedKeys(t.Headers) {
		if !isFieldName(name) {
			k.c.addf("tracing.headers."+name, "%q is not a header field name", name)
		} else if strings.ContainsAny(t.Headers[name], "\r\n\x00") {
			k.c.addf("tracing.headers."+name, "value must not contain line breaks or NUL")
		}
	}
}

// checkOTLPEndpoint returns what is wrong with an OTLP/HTTP base URL, or "".
func checkOTLPEndpoint(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Sprintf("invalid URL %q", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf(`must be an http:// or https:// URL, e.g. "http://127.0.0.1:4318", got %q`, s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Sprintf("must name a host, got %q", s)
	case u.User != nil:
		return "must not contain credentials: send them in tracing.headers"
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Sprintf("must not have a query or fragment, got %q", s)
	}
	return ""
}
