package stage

import (
	"bytes"
	"sync"
)

// subscriberBuffer is how many events a page may be behind before it
// misses some: a few seconds of frames. A slow page loses frames; it never
// slows the stage or another page down.
const subscriberBuffer = 64

// hub sends events to every page that listens. Its methods are safe for
// concurrent use.
type hub struct {
	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan []byte]struct{}{}} }

// subscribe returns a channel of encoded Server-Sent Events, closed when
// the hub closes; the caller must unsubscribe.
func (h *hub) subscribe() chan []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan []byte, subscriberBuffer)
	if h.closed {
		close(ch)
		return ch
	}
	h.subs[ch] = struct{}{}
	return ch
}

func (h *hub) unsubscribe(ch chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// send encodes v as an event of type name and offers it to every page.
func (h *hub) send(name string, v any) {
	ev := encodeEvent(name, v)
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // that page is behind: it misses this one
		}
	}
}

// close ends every page's stream.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// encodeEvent writes one Server-Sent Event: "event: NAME\ndata: JSON\n\n".
// JSON holds no raw newline, so one data line carries it.
func encodeEvent(name string, v any) []byte {
	var b bytes.Buffer
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteString("\ndata: ")
	b.Write(mustJSON(v))
	b.WriteString("\n\n")
	return b.Bytes()
}
