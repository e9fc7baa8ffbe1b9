package httpsession

import (
	"net/url"
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

// encodeKey returns the field name under which key is stored.
func encodeKey(key string) string {
	if key == "" {
		return "%"
	}
	var b []byte // nil while key needs no escaping
	for i := 0; i < len(key); {
		r, size := utf8.DecodeRuneInString(key[i:])
		escape := r == utf8.RuneError && size <= 1 || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) ||
			unicode.IsSpace(r) || r == '%' || r == '.' || r == '$' || (i == 0 && r == '_')
		if escape && b == nil {
			b = append(make([]byte, 0, len(key)+8), key[:i]...)
		}
		for j := i; j < i+size; j++ {
			if escape {
				b = append(b, '%', "0123456789ABCDEF"[key[j]>>4], "0123456789ABCDEF"[key[j]&0xf])
			} else if b != nil {
				b = append(b, key[j])
			}
		}
		i += size
	}
	if b == nil {
		return key
	}
	return string(b)
}

// decodeKey reverses encodeKey. ok is false for a field name encodeKey
// cannot have produced (a document written by something else, a
// non-canonical escape); such fields are skipped when a session is loaded.
func decodeKey(field string) (key string, ok bool) {
	if field == "%" {
		return "", true
	}
	key, err := url.PathUnescape(field)
	if err != nil || encodeKey(key) != field {
		return "", false
	}
	return key, true
}
