package fanout

import (
	"fmt"
	"math"
	"sync/atomic"
)

// Budget is a process-wide allowance of extra attempts (hedged duplicates,
// retries) as a fraction of the calls that may earn them, as Finagle's and
// Envoy's retry budgets are: each such call deposits the fraction of a
// token (Deposit), each extra attempt takes a whole one (Take), and the
// bucket holds at most a burst of tokens, so that a calm spell cannot save
// up for a storm of extra load on a struggling backend. It starts empty:
// the first extra attempt waits for 1/ratio calls. A Budget of ratio 0
// allows none (Off), which turns its policy off without editing the
// document. It is safe for concurrent use.
type Budget struct {
	micro  int64 // what a call deposits, in millionths of a token
	burst  int64 // the most tokens held, in millionths
	tokens atomic.Int64
	spent  atomic.Int64
	denied atomic.Int64
}

// tokenUnits is a whole token: the balance is kept in millionths of one,
// an integer that atomics update without a lock.
const tokenUnits = 1_000_000

// NewBudget returns a Budget that allows extra attempts for ratio of the
// calls, between 0 (none) and 1, holding at most burst of them (at least
// 1).
func NewBudget(ratio float64, burst int) (*Budget, error) {
	if ratio < 0 || ratio > 1 || math.IsNaN(ratio) {
		return nil, fmt.Errorf("budget %v is not between 0 and 1", ratio)
	}
	if burst < 1 {
		return nil, fmt.Errorf("budget burst %d: want at least 1", burst)
	}
	return &Budget{micro: int64(math.Round(ratio * tokenUnits)), burst: int64(burst) * tokenUnits}, nil
}

// Off reports whether the Budget allows nothing at all (ratio 0), so that
// its policy can pass calls straight through.
func (b *Budget) Off() bool { return b.micro == 0 }

// Spent returns the number of extra attempts the Budget allowed.
func (b *Budget) Spent() int64 { return b.spent.Load() }

// Denied returns the number of extra attempts the Budget refused for want
// of a token: a rising count means the backends fail, or are slow, more
// often than the budget can make up for.
func (b *Budget) Denied() int64 { return b.denied.Load() }

// Deposit credits one call that may earn an extra attempt.
func (b *Budget) Deposit() {
	if b.micro == 0 {
		return
	}
	if v := b.tokens.Add(b.micro); v > b.burst {
		b.tokens.CompareAndSwap(v, b.burst)
	}
}

// Take spends one token for an extra attempt, or reports, and counts, that
// none is left.
func (b *Budget) Take() bool {
	for {
		v := b.tokens.Load()
		if v < tokenUnits {
			b.denied.Add(1)
			return false
		}
		if b.tokens.CompareAndSwap(v, v-tokenUnits) {
			b.spent.Add(1)
			return true
		}
	}
}
