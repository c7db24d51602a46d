package tracing

import "testing"

// TestParseTraceparent: the W3C header's rules, row by row.
func TestParseTraceparent(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		header  string
		ok      bool
		sampled bool
	}{
		{"00-" + tid + "-" + sid + "-01", true, true},                                  // the spec's example
		{"00-" + tid + "-" + sid + "-00", true, false},                                 // not sampled
		{"00-" + tid + "-" + sid + "-09", true, true},                                  // unknown flags are dropped, sampled kept
		{"01-" + tid + "-" + sid + "-01-what-comes-next", true, true},                  // a later version may say more
		{"00-" + tid + "-" + sid + "-01-more", false, false},                           // version 00 says no more
		{"ff-" + tid + "-" + sid + "-01", false, false},                                // version ff is invalid
		{"00-" + "00000000000000000000000000000000" + "-" + sid + "-01", false, false}, // zero trace id
		{"00-" + tid + "-0000000000000000-01", false, false},                           // zero parent id
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-" + sid + "-01", false, false},           // upper-case hex
		{"00-" + tid + "-" + sid, false, false},                                        // no flags
		{"00_" + tid + "_" + sid + "_01", false, false},                                // wrong separators
		{"", false, false},
	} {
		sc, ok := ParseTraceparent([]byte(tc.header))
		if ok != tc.ok || (ok && (sc.IsSampled() != tc.sampled || sc.TraceID().String() != tid || sc.SpanID().String() != sid || !sc.IsRemote())) {
			t.Errorf("%q: ok %v sampled %v trace %s span %s, want ok %v sampled %v", tc.header, ok, sc.IsSampled(), sc.TraceID(), sc.SpanID(), tc.ok, tc.sampled)
		}
	}
}

// TestParseTraceparentAllocations: reading a client's header costs a
// request no allocation.
func TestParseTraceparentAllocations(t *testing.T) {
	h := []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if n := testing.AllocsPerRun(100, func() { ParseTraceparent(h) }); n != 0 {
		t.Errorf("%v allocations, want none", n)
	}
}
