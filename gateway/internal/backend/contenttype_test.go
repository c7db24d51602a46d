package backend_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/backendtest"
)

// TestOnlyJSONAnswers: a 2xx answer whose Content-Type is not JSON's
// media type (or a +json one) is malformed, whatever its bytes: the gateway
// would serve them under its own JSON content type. A non-2xx answer and a
// 204 pass as they are, for the gateway to class by status.
func TestOnlyJSONAnswers(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		status      int
		malformed   bool
	}{
		{"application/json", 200, false},
		{"application/json; charset=utf-8", 200, false},
		{"Application/JSON", 200, false},
		{"application/problem+json", 200, false},
		{"text/html", 200, true},
		{"text/plain; charset=utf-8", 200, true},
		{"application/javascript", 200, true},
		{"+json", 200, true},
		{"", 200, true},
		{"application/jsonx", 201, true},
		{"text/html", 500, false},
		{"text/html", 204, false},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.contentType), func(t *testing.T) {
			answer := func(conn net.Conn, _ backendtest.RawRequest) bool {
				body := `{"id":"1"}`
				if tc.status == 204 {
					body = ""
				}
				head := fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Length: %d\r\n", tc.status, len(body))
				if tc.contentType != "" {
					head += "Content-Type: " + tc.contentType + "\r\n"
				}
				_, err := conn.Write([]byte(head + "\r\n" + body))
				return err == nil
			}
			c, _ := rawClients(t, backend.Options{}, answer)
			ex := c.Exchange()
			defer ex.Release()
			status, _, err := ex.Do(context.Background(), "b", "GET", "/x")
			if got := err != nil && backend.KindOf(err) == backend.KindMalformed; got != tc.malformed {
				t.Errorf("status %d, error %v; want malformed %v", status, err, tc.malformed)
			}
		})
	}
}
