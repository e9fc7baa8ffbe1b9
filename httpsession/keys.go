package httpsession

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Session keys are untrusted strings (an application may use a form field
// as a key). Each is stored as a field of the "session" sub-document, so
// that an update addresses it by name ($set, $unset, $inc of one key;
// concurrent requests changing different keys never overwrite each other),
// under an escaped name that no server or tool can read as an operator
// ("$where"), a path ("a.b"), an illegal name (NUL, invalid UTF-8, "") or
// something special ("__proto__"):
//
//   - every byte not part of a printable, valid UTF-8 character, every
//     Unicode space (FerretDB trims spaces around the parts of a dotted
//     path), and every '%', '.' and '$' becomes %XX (upper-case hex);
//   - a leading '_' becomes %5F; the empty key is stored as "%".
//
// Keys of letters, digits, '-' and non-leading '_' are stored as they are.
// The escaping is a bijection (decodeKey(encodeKey(k)) == k, fuzz-tested).

const hexDigits = "0123456789ABCDEF"

// encodeKey returns the field name under which key is stored.
func encodeKey(key string) string {
	if key == "" {
		return "%"
	}
	if plainKey(key) {
		return key
	}
	var b strings.Builder
	b.Grow(len(key) + 8)
	for i := 0; i < len(key); {
		r, size := utf8.DecodeRuneInString(key[i:])
		escape := r == utf8.RuneError && size <= 1 || // invalid UTF-8
			r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || // control characters, NUL
			unicode.IsSpace(r) || // servers may trim spaces around path parts
			r == '%' || r == '.' || r == '$' ||
			(i == 0 && r == '_')
		if !escape {
			b.WriteString(key[i : i+size])
			i += size
			continue
		}
		for j := 0; j < size; j++ {
			c := key[i+j]
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		}
		i += size
	}
	return b.String()
}

// plainKey reports whether key needs no escaping: ASCII letters, digits,
// '-' and '_' not in the first position.
func plainKey(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		case c == '_' && i > 0:
		default:
			return false
		}
	}
	return true
}

// decodeKey reverses encodeKey. ok is false for a field name encodeKey
// cannot have produced (a document written by something else); such
// fields are skipped when a session is loaded.
func decodeKey(field string) (key string, ok bool) {
	if field == "%" {
		return "", true
	}
	if field == "" || field[0] == '$' || field[0] == '_' || strings.ContainsAny(field, ".\x00") || !utf8.ValidString(field) {
		return "", false
	}
	if plainKey(field) {
		return field, true
	}
	b := make([]byte, 0, len(field))
	for i := 0; i < len(field); i++ {
		c := field[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(field) {
			return "", false
		}
		hi, lo := unhex(field[i+1]), unhex(field[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	key = string(b)
	if encodeKey(key) != field {
		// Not the canonical form (lower-case hex, a needlessly escaped
		// byte): not ours.
		return "", false
	}
	return key, true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
