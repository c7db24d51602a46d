package server

import (
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		ae   string
		big  bool
		want coding
	}{
		{"gzip", true, codingGzip},
		{"gzip", false, identity},                 // a small body is sent as it is
		{"gzip, identity;q=0", false, codingGzip}, // unless identity is refused
		{"x-gzip", true, codingGzip},              // RFC 9110: x-gzip is gzip
		{" br ; q=0.9 , gzip ; Q=0.8", true, codingBrotli},
		{"gzip;q=1.000, br;q=0.999", true, codingGzip},
		{"gzip;q=1.0001", true, identity}, // four decimals: not a qvalue
		{"gzip;q=2", true, identity},
		{"gzip;q=1.5", true, identity},
		{"gzip;q=", true, identity},
		{"gzip;level=1", true, codingGzip}, // other parameters are ignored
		{"*;q=0, identity", true, identity},
		{"*;q=0", false, identity}, // nothing acceptable: identity anyway
		{"br;q=0.5, identity;q=0.5", true, codingBrotli},
		{",,;", true, identity},
	} {
		if got := negotiate([]byte(c.ae), c.big); got != c.want {
			t.Errorf("negotiate(%q, big %v) = %s, want %s", c.ae, c.big, codingNames[got], codingNames[c.want])
		}
	}
}

func TestNoneMatchHas(t *testing.T) {
	tag := []byte(`"0123456789abcdef-gz"`)
	for _, c := range []struct {
		field string
		want  bool
	}{
		{`"0123456789abcdef-gz"`, true},
		{`W/"0123456789abcdef-gz"`, true},
		{`"a,b", "0123456789abcdef-gz"`, true}, // a comma inside a tag does not split it
		{`"a,"0123456789abcdef-gz"`, false},    // the second quote closes the first tag
		{` * `, true},
		{`*x`, false},
		{`"0123456789abcdef"`, false},
		{`0123456789abcdef-gz`, false},
		{`w/"0123456789abcdef-gz"`, false}, // W/ is case-sensitive
		{`"x" junk, "0123456789abcdef-gz"`, true},
		{`"unterminated`, false},
	} {
		if got := noneMatchHas([]byte(c.field), tag); got != c.want {
			t.Errorf("noneMatchHas(%q) = %v, want %v", c.field, got, c.want)
		}
	}
}

// FuzzTransferHeaders: neither parser panics on any field, and a field
// that lists the tag among other tags matches it.
func FuzzTransferHeaders(f *testing.F) {
	for _, s := range []string{"gzip", "br;q=0.5, *;q=0", `W/"a", "b"`, "*", `"`, ";q=1.", ","} {
		f.Add(s)
	}
	tag := []byte(`"0123456789abcdef"`)
	f.Fuzz(func(t *testing.T, field string) {
		negotiate([]byte(field), true)
		noneMatchHas([]byte(field), tag)
		if c := negotiate([]byte(field), false); c != identity && c != codingGzip && c != codingBrotli {
			t.Fatalf("coding %d", c)
		}
		if !noneMatchHas([]byte(`"x", `+string(tag)), tag) {
			t.Fatal("the tag after another is not found")
		}
	})
}

// TestHeaderKeysAsNormalised: the header names the gateway sets without
// normalising them (SetCanonical) are written as fasthttp normalises
// names, so that its Peek, which normalises the name it is given, finds
// them.
func TestHeaderKeysAsNormalised(t *testing.T) {
	for _, k := range [][]byte{cacheControlKey, varyKey, etagKey, serverTimingKey} {
		var h fasthttp.ResponseHeader
		h.SetCanonical(k, []byte("x"))
		if got := h.Peek(string(k)); string(got) != "x" {
			t.Errorf("header %s set, Peek(%q) = %q: the name is not as fasthttp normalises it", k, k, got)
		}
	}
}

// TestAppendMillis: Server-Timing's figures, in milliseconds with two
// decimals, read as strconv's float formatting wrote them.
func TestAppendMillis(t *testing.T) {
	for _, d := range []time.Duration{0, 4 * time.Microsecond, 6 * time.Microsecond, 10 * time.Microsecond,
		999 * time.Microsecond, 20*time.Millisecond + 264*time.Microsecond, 40 * time.Millisecond,
		3*time.Second + 141592*time.Microsecond, -1500 * time.Microsecond, 90 * time.Minute} {
		want := strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
		if got := string(appendMillis(nil, d)); got != want {
			t.Errorf("appendMillis(%v) = %s, want %s", d, got, want)
		}
	}
}

// BenchmarkAppendMillis is one Server-Timing figure, as integers and as
// strconv's float formatting wrote it.
func BenchmarkAppendMillis(b *testing.B) {
	buf := make([]byte, 0, 16)
	d := 20*time.Millisecond + 264*time.Microsecond
	b.Run("integers", func(b *testing.B) {
		for b.Loop() {
			buf = appendMillis(buf[:0], d)
		}
	})
	b.Run("float", func(b *testing.B) {
		for b.Loop() {
			buf = strconv.AppendFloat(buf[:0], float64(d)/float64(time.Millisecond), 'f', 2, 64)
		}
	})
}
