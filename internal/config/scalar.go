package config

import (
	"encoding"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"syscall"
)

// Types the decoder parses from text itself rather than by kind.
var (
	durationType = reflect.TypeFor[Duration]()
	sizeType     = reflect.TypeFor[Size]()
	signalType   = reflect.TypeFor[syscall.Signal]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	levelType    = reflect.TypeFor[slog.Level]()
)

// isScalarType reports whether v is written as a single scalar.
func isScalarType(v reflect.Value) bool {
	switch v.Type() {
	case durationType, sizeType, signalType, prefixType, levelType:
		return true
	}
	switch v.Kind() {
	case reflect.String, reflect.Int, reflect.Float64, reflect.Bool:
		return true
	}
	return false
}

// setScalar parses text into v according to v's type.
func setScalar(v reflect.Value, text string) error {
	switch v.Type() {
	case signalType:
		sig, err := parseSignal(text)
		v.Set(reflect.ValueOf(sig))
		return err
	case prefixType:
		p, err := parsePrefix(text)
		v.Set(reflect.ValueOf(p))
		return err
	case levelType:
		l, err := parseLevel(text)
		v.Set(reflect.ValueOf(l))
		return err
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(text))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Int:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("expected an integer, got %q", text)
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("expected a number, got %q", text)
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil || (text != "true" && text != "false") {
			return fmt.Errorf("expected true or false, got %q", text)
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("no scalar decoding for %s", v.Type())
	}
	return nil
}

// stopSignals are the signals an app may be asked to stop with.
var stopSignals = []struct {
	name string
	sig  syscall.Signal
}{
	{"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}, {"SIGQUIT", syscall.SIGQUIT},
	{"SIGHUP", syscall.SIGHUP}, {"SIGUSR1", syscall.SIGUSR1}, {"SIGUSR2", syscall.SIGUSR2},
}

// parseSignal reads a stop signal by name, with or without "SIG", in any case.
func parseSignal(s string) (syscall.Signal, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	for _, ss := range stopSignals {
		if ss.name == name {
			return ss.sig, nil
		}
	}
	return 0, fmt.Errorf("unknown stop signal %q: use one of SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2", s)
}

// SignalName returns the name of a stop signal as written in a stack file
// ("SIGTERM"), or sig.String() for other signals.
func SignalName(sig syscall.Signal) string {
	for _, ss := range stopSignals {
		if ss.sig == sig {
			return ss.name
		}
	}
	return sig.String()
}

// parsePrefix reads a CIDR ("10.0.0.0/8") or a single IP ("127.0.0.1",
// which becomes 127.0.0.1/32). Host bits in a CIDR are refused: they
// usually mean a typo in the prefix length.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid IP address or CIDR %q: use e.g. 10.0.0.0/8 or 127.0.0.1", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: use e.g. 10.0.0.0/8 or fd00::/8", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("CIDR %q has bits set after the prefix length (did you mean %s?)", s, m)
	}
	return p, nil
}

// parseLevel reads one of the four slog levels by name.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q: use debug, info, warn or error", s)
}
