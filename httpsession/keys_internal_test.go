package httpsession

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var hostileKeys = []string{
	"", "$where", "$gt", "$", "$$", ".", "a.b", "..", "a.", ".a", "__proto__", "constructor",
	"_id", "session", "expires", "\x00", "a\x00b", "\xff\xfe", "\xc3", "%", "%41", "%%", "%4", "%zz",
	"k%2E", "_", "__", "a_b", "views", "\u00e9t\u00e9", "\u0085", "\x7f", "\t\n", " ", "{\"$gt\":\"\"}",
	strings.Repeat("x", 5000) + ".$",
}

func checkField(t testing.TB, key, field string) {
	t.Helper()
	switch {
	case field == "":
		t.Fatalf("key %q: empty field name", key)
	case strings.ContainsAny(field, ".\x00"):
		t.Fatalf("key %q: field %q holds '.' or NUL", key, field)
	case field[0] == '$' || field[0] == '_':
		t.Fatalf("key %q: field %q starts with '$' or '_'", key, field)
	case !utf8.ValidString(field):
		t.Fatalf("key %q: field %q is not UTF-8", key, field)
	}
	got, ok := decodeKey(field)
	if !ok || got != key {
		t.Fatalf("key %q: field %q decodes to %q, %v", key, field, got, ok)
	}
}

func TestKeyEscaping(t *testing.T) {
	seen := map[string]string{}
	for _, k := range hostileKeys {
		f := encodeKey(k)
		checkField(t, k, f)
		if other, dup := seen[f]; dup {
			t.Fatalf("keys %q and %q share field %q", k, other, f)
		}
		seen[f] = k
	}
	for k, want := range map[string]string{"views": "views", "a_b": "a_b", "": "%", "a.b": "a%2Eb", "__proto__": "%5F_proto__", "$where": "%24where"} {
		if got := encodeKey(k); got != want {
			t.Errorf("encodeKey(%q) = %q, want %q", k, got, want)
		}
	}
	for _, f := range []string{"a.b", "$x", "_x", "%2e", "%4", "%", "a%", "%41", ""} {
		if f == "%" {
			continue
		}
		if k, ok := decodeKey(f); ok {
			t.Errorf("decodeKey(%q) accepted a field encodeKey never writes: %q", f, k)
		}
	}
}

func FuzzKeyEscaping(f *testing.F) {
	for _, k := range hostileKeys {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		checkField(t, key, encodeKey(key))
	})
}

func TestParseToken(t *testing.T) {
	now := time.Now()
	sel := newSelector(now)
	ver, hash := newVerifier()
	tok := sel + ver
	gotSel, gotHash, created, ok := parseToken(tok)
	if !ok || len(tok) != 75 || gotSel != sel || gotHash != hash || created.UnixMilli() != now.UnixMilli() {
		t.Fatalf("parseToken(%q) = %q %q %v %v", tok, gotSel, gotHash, created, ok)
	}
	if hash == ver || strings.Contains(hash, ver) {
		t.Fatal("the stored hash is the verifier")
	}
	for _, bad := range []string{"", tok[:74], tok + "A", strings.Repeat("$", 75), tok[:74] + ".", tok[:74] + "\x00", sel} {
		if _, _, _, ok := parseToken(bad); ok {
			t.Errorf("parseToken(%q) accepted", bad)
		}
	}
}
