package stage

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"fanout/bench/demo"
	"fanout/bench/launch"
	"fanout/bench/load"
)

// attackTimeout bounds one request of the load: past the gateway's
// deadline, so that what is measured is the gateway's answer, never the
// client giving up first.
const attackTimeout = 5 * time.Second

// experiments is how many experiment ids the load cycles through: those of
// the mocks' default data set (50 projects of 20).
const experiments = 1000

// loader offers the results page to the stage's stable gateway address
// at a rate that the page changes live, in the open model (vegeta, no cap
// on workers, so a queue at the gateway shows as latency, never as a
// slower client). A rate change stops the running attack, whose requests in
// flight still finish and count, and starts one at the new rate from a
// fresh schedule: vegeta's pacers cannot change their rate, and a restart
// costs nothing a client would notice.
type loader struct {
	base string // "http://host:port" of the stable gateway address
	win  *window
	// client is shared by every attack, so that connections outlive a
	// rate change.
	client *http.Client
	seq    atomic.Uint64

	mu   sync.Mutex
	rate float64
	atk  *vegeta.Attacker
	wg   sync.WaitGroup // result loops of the attacks
}

func newLoader(base string, win *window) *loader {
	return &loader{
		base: base,
		win:  win,
		client: &http.Client{
			Timeout: attackTimeout,
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
				MaxIdleConnsPerHost: 10000,
				DisableCompression:  true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// targeter walks the experiment ids in turn: every request of the stage is
// the same results page of another experiment.
func (l *loader) targeter(t *vegeta.Target) error {
	n := l.seq.Add(1)
	t.Method = http.MethodGet
	t.URL = l.base + demo.ResultsPath(int(n%experiments)+1)
	t.Header = http.Header{"Authorization": {launch.Authorization}}
	return nil
}

// Rate returns the offered rate, in requests per second.
func (l *loader) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// setRate offers rate requests per second from now on; 0 stops the load.
func (l *loader) setRate(rate float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.atk != nil {
		l.atk.Stop()
		l.atk = nil
	}
	l.rate = 0
	if rate == 0 {
		return nil
	}
	p, err := load.ConstantRate(rate)
	if err != nil {
		return fmt.Errorf("offer %v/s: %w", rate, err)
	}
	atk := vegeta.NewAttacker(vegeta.Client(l.client), vegeta.MaxBody(0))
	// A duration of 0 attacks until Stop.
	res := atk.Attack(l.targeter, p, 0, "stage")
	l.atk, l.rate = atk, rate
	l.wg.Go(func() {
		for r := range res {
			l.record(r)
		}
	})
	return nil
}

// record turns one result into a sample of the window.
func (l *loader) record(r *vegeta.Result) {
	s := sample{end: r.Timestamp.Add(r.Latency), latency: r.Latency, class: failed}
	timing := ""
	if r.Code >= 200 && r.Code < 400 {
		s.class = complete
		if r.Headers.Get(load.PartialHeader) != "" {
			s.class = partial
		}
		timing = r.Headers.Get("Server-Timing")
	}
	l.win.add(s, timing, int(r.Code))
}

// stop ends the load and waits until every request in flight is recorded.
func (l *loader) stop() {
	_ = l.setRate(0)
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

// formatRate writes a rate as the page shows it.
func formatRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) + "/s" }
