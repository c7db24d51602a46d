package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// strictJSON says why body, which must be one JSON value, is not one the
// gateway can validate as the very bytes it forwards, or "" if it is.
// encoding/json, which kin-openapi validates with, is lenient where a
// backend's parser may not be: it keeps the last of duplicate keys, and it
// turns a lone UTF-16 surrogate escape into U+FFFD. Either way the value
// validated would differ from the one the backend reads. Trailing data after
// the value would be forwarded unvalidated.
func strictJSON(body []byte) string {
	if !json.Valid(body) {
		// json.Valid refuses trailing data after the value as well; say
		// which it is, so the client knows what to fix.
		dec := json.NewDecoder(bytes.NewReader(body))
		var v json.RawMessage
		if dec.Decode(&v) == nil {
			return "trailing data after the JSON value"
		}
		return ""
	}
	if reason := loneSurrogate(body); reason != "" {
		return reason
	}
	return duplicateKey(body)
}

// loneSurrogate finds a \u escape of a UTF-16 surrogate that is not part of
// a high-low pair. body is valid JSON, so a backslash only ever starts an
// escape inside a string.
func loneSurrogate(body []byte) string {
	for i := bytes.IndexByte(body, '\\'); i >= 0; {
		if body[i+1] != 'u' {
			i = next(body, i+2)
			continue
		}
		r := hex4(body[i+2 : i+6])
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return fmt.Sprintf("lone UTF-16 surrogate \\u%04x in a string", r)
		case r >= 0xD800 && r <= 0xDBFF:
			j := i + 6
			if j+6 > len(body) || body[j] != '\\' || body[j+1] != 'u' {
				return fmt.Sprintf("lone UTF-16 surrogate \\u%04x in a string", r)
			}
			if low := hex4(body[j+2 : j+6]); low < 0xDC00 || low > 0xDFFF {
				return fmt.Sprintf("lone UTF-16 surrogate \\u%04x in a string", r)
			}
			i = next(body, j+6)
		default:
			i = next(body, i+6)
		}
	}
	return ""
}

// next is the index of the next backslash in body at or after from, or -1.
func next(body []byte, from int) int {
	if from >= len(body) {
		return -1
	}
	if j := bytes.IndexByte(body[from:], '\\'); j >= 0 {
		return from + j
	}
	return -1
}

// hex4 decodes four hexadecimal digits that json.Valid has already checked.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// duplicateKey finds an object in body, valid JSON, that names a key twice.
func duplicateKey(body []byte) string {
	type frame struct {
		keys    map[string]struct{} // nil for an array
		wantKey bool
	}
	var stack []frame
	done := func() { // a value ended: an object now wants its next key
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return ""
		}
		if err != nil {
			return "not valid JSON"
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, frame{keys: map[string]struct{}{}, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			key := tok.(string) // the decoder has checked that a key is a string
			if _, dup := stack[n-1].keys[key]; dup {
				return fmt.Sprintf("the key %q is given more than once", key)
			}
			stack[n-1].keys[key] = struct{}{}
			stack[n-1].wantKey = false
			continue
		}
		done()
	}
}

// badCharset says why the request's Content-Type names a charset other
// than UTF-8, the only one JSON has (RFC 8259), or "" if it does not.
func badCharset(contentType []byte) string {
	if len(contentType) == 0 || !bytes.Contains(bytes.ToLower(contentType), []byte("charset")) {
		return ""
	}
	_, params, err := mime.ParseMediaType(string(contentType))
	if err != nil {
		return "" // the media type check has refused it already
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Sprintf("charset %q is not UTF-8", cs)
	}
	return ""
}

// unsupportedEncoding says why the request's Content-Encoding is one the
// gateway does not decode, or "" if it has none or identity. The gateway
// validates the bytes it forwards, so it cannot validate a compressed body.
func unsupportedEncoding(contentEncoding []byte) string {
	if len(contentEncoding) == 0 || strings.EqualFold(strings.TrimSpace(string(contentEncoding)), "identity") {
		return ""
	}
	return fmt.Sprintf("Content-Encoding %q is not accepted; the gateway accepts identity only", contentEncoding)
}
