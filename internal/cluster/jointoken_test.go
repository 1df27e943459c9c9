package cluster

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParseJoinToken(t *testing.T) {
	valid := JoinToken{Addr: "10.0.0.1:7946", ID: "0123456789abcdef"}
	valid.Secret[0], valid.CAHash[31] = 1, 2
	b64 := func(s string) string { return joinTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(s)) }
	secret := `"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`
	hash := `"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI="`
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"valid", valid.String(), true},
		{"valid, hand-made", b64(`{"a":"10.0.0.1:7946","i":"0123456789abcdef","s":` + secret + `,"c":` + hash + `}`), true},
		{"host name", b64(`{"a":"node-1.example.com:7946","i":"0123456789abcdef","s":` + secret + `,"c":` + hash + `}`), true},
		{"IPv6", b64(`{"a":"[::1]:7946","i":"0123456789abcdef","s":` + secret + `,"c":` + hash + `}`), true},
		{"empty", "", false},
		{"no prefix", strings.TrimPrefix(valid.String(), joinTokenPrefix), false},
		{"other version", "tdm2_" + strings.TrimPrefix(valid.String(), joinTokenPrefix), false},
		{"not base64url", joinTokenPrefix + "!!!!", false},
		{"padded", valid.String() + "=", false},
		{"not JSON", b64("hello"), false},
		{"unknown field", b64(`{"a":"10.0.0.1:7946","i":"0123456789abcdef","s":` + secret + `,"c":` + hash + `,"x":1}`), false},
		{"trailing data", b64(`{"a":"10.0.0.1:7946","i":"0123456789abcdef","s":` + secret + `,"c":` + hash + `} {}`), false},
		{"missing secret", b64(`{"a":"10.0.0.1:7946","i":"0123456789abcdef","c":` + hash + `}`), false},
		{"short secret", b64(`{"a":"10.0.0.1:7946","i":"0123456789abcdef","s":"AQID","c":` + hash + `}`), false},
		{"short hash", b64(`{"a":"10.0.0.1:7946","i":"0123456789abcdef","s":` + secret + `,"c":"AQID"}`), false},
		{"bad id", b64(`{"a":"10.0.0.1:7946","i":"../../etc","s":` + secret + `,"c":` + hash + `}`), false},
		{"upper-case id", b64(`{"a":"10.0.0.1:7946","i":"0123456789ABCDEF","s":` + secret + `,"c":` + hash + `}`), false},
		{"no port", b64(`{"a":"10.0.0.1","i":"0123456789abcdef","s":` + secret + `,"c":` + hash + `}`), false},
		{"port 0", b64(`{"a":"10.0.0.1:0","i":"0123456789abcdef","s":` + secret + `,"c":` + hash + `}`), false},
		{"port with sign", b64(`{"a":"10.0.0.1:+80","i":"0123456789abcdef","s":` + secret + `,"c":` + hash + `}`), false},
		{"bad host", b64(`{"a":"a b:80","i":"0123456789abcdef","s":` + secret + `,"c":` + hash + `}`), false},
		{"too long", joinTokenPrefix + strings.Repeat("A", maxJoinTokenLen), false},
	}
	for _, tc := range tests {
		got, err := ParseJoinToken(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: ParseJoinToken(%q) = %+v, %v; want ok %v", tc.name, tc.in, got, err, tc.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrMalformedJoinToken) {
			t.Errorf("%s: ParseJoinToken(%q) = %v; want %v", tc.name, tc.in, err, ErrMalformedJoinToken)
		}
		if tc.name == "valid" && got != valid {
			t.Errorf("ParseJoinToken(%q) = %+v; want %+v", tc.in, got, valid)
		}
	}
}

// FuzzParseJoinToken checks that the parser never panics and that what it
// accepts encodes back to a token that parses to the same value.
func FuzzParseJoinToken(f *testing.F) {
	tok := JoinToken{Addr: "127.0.0.1:7946", ID: "0123456789abcdef"}
	f.Add(tok.String())
	f.Add(joinTokenPrefix)
	f.Add(joinTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(`{"a":"h:1","i":"0123456789abcdef","s":"","c":""}`)))
	f.Add("tdm1_e30")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		again, err := ParseJoinToken(got.String())
		if err != nil || again != got {
			t.Fatalf("ParseJoinToken(%q) = %+v, re-encoded parses to %+v, %v", s, got, again, err)
		}
	})
}
