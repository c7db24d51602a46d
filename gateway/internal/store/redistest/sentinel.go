package redistest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"fanout/gateway/internal/poll"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name under which the Sentinels of StartSentinels watch
// their primary.
const MasterName = "fanout"

// Sentinels is a highly available Redis on 127.0.0.1: a primary, a replica
// of it, and three redis-sentinel that watch the primary and promote the
// replica when it fails. They judge a primary down after
// DownAfter, so that a failover takes a few seconds, not the default
// thirty and more.
type Sentinels struct {
	Primary, Replica *Server
	Sentinels        []*Server
}

// DownAfter is how long the sentinels wait on a primary that does not
// answer before they judge it down (down-after-milliseconds).
const DownAfter = 500 * time.Millisecond

// StartSentinels starts a primary, a replica and three sentinels until t
// ends, and returns once every sentinel knows the replica and the other
// two sentinels, so that a failover can be agreed on at once. A machine
// without redis-sentinel skips t, with how to install it.
func StartSentinels(t testing.TB) *Sentinels {
	t.Helper()
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		t.Skipf("redis-sentinel not found (%v): install it, e.g. apt-get install -y redis-sentinel", err)
	}
	g := &Sentinels{Primary: Start(t)}
	g.Replica = Start(t, "--replicaof", "127.0.0.1", g.port(g.Primary))
	dir := t.TempDir()
	for i := range 3 {
		// A sentinel rewrites its configuration file as it learns: each
		// needs its own, writable.
		conf := filepath.Join(dir, "sentinel-"+strconv.Itoa(i)+".conf")
		g.Sentinels = append(g.Sentinels, startOn(t, bin, "+monitor master", func(port int) []string {
			text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
				"sentinel monitor %s 127.0.0.1 %s 2\n"+
				"sentinel down-after-milliseconds %s %d\n"+
				"sentinel failover-timeout %s 5000\n",
				port, dir, MasterName, g.port(g.Primary), MasterName, DownAfter.Milliseconds(), MasterName)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{conf}
		}))
	}
	g.waitAcquainted(t)
	return g
}

func (g *Sentinels) port(s *Server) string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return port
}

// URL is the -redis URL of the group, in go-redis's form for Sentinel:
// the first sentinel's address, the others as addr parameters, and the
// name of the primary.
func (g *Sentinels) URL() string {
	q := url.Values{"master_name": {MasterName}}
	for _, s := range g.Sentinels[1:] {
		q.Add("addr", s.Addr)
	}
	return "redis://" + g.Sentinels[0].Addr + "/0?" + q.Encode()
}

// Master returns the primary's address as the first sentinel reports it.
func (g *Sentinels) Master(ctx context.Context) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: g.Sentinels[0].Addr})
	defer c.Close()
	a, err := c.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", fmt.Errorf("sentinel %s: %w", g.Sentinels[0].Addr, err)
	}
	return a[0] + ":" + a[1], nil
}

// waitAcquainted waits, at most 15 s, until each sentinel knows the
// replica and the two other sentinels (they meet through the primary,
// every 2 s).
func (g *Sentinels) waitAcquainted(t testing.TB) {
	t.Helper()
	for _, s := range g.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
		poll.Until(t, 15*time.Second, "sentinel "+s.Addr+" to know the replica and the other sentinels", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			others, err1 := c.Sentinels(ctx, MasterName).Result()
			replicas, err2 := c.Replicas(ctx, MasterName).Result()
			return err1 == nil && err2 == nil && len(others) == len(g.Sentinels)-1 && len(replicas) == 1
		})
		c.Close()
	}
}
