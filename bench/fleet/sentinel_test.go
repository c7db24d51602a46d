package fleet_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"fanout/bench/fleet"
	"fanout/bench/launch"
)

// post creates an experiment through the fleet with an Idempotency-Key,
// and returns the status, the created id and whether it was a replay.
func post(client *http.Client, base, key string) (status int, id string, replayed bool, err error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v2/experiments", strings.NewReader(`{"project_id":"3","name":"fleet failover"}`))
	if err != nil {
		return 0, "", false, err
	}
	req.Header.Set("Authorization", "Bearer "+launch.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", false, err
	}
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.ID, resp.Header.Get("Idempotent-Replayed") == "true", nil
}

// TestFleetSentinelFailover runs a fleet whose Redis is a primary, a
// replica and three redis-sentinel, and kills the primary with SIGKILL:
// GETs through HAProxy go on being served meanwhile (rate limits fail
// open); a create the client retries with its Idempotency-Key until it is
// no longer refused 503 creates once, and its repeat replays; once the
// replica is primary, the shared rate limit holds again for the fleet.
func TestFleetSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis with Sentinel, HAProxy, the mock backends and two gateways")
	}
	for _, name := range []string{"haproxy", "redis-server"} {
		if _, err := fleet.Binary(name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fleet.Binary("redis-sentinel"); err != nil {
		t.Skip(err)
	}
	f := startFleet(t, fleet.Options{Replicas: 2, Sentinel: true, DrainDelay: time.Second})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := f.URL() + "/v2/experiments/42"

	// GETs at 20 a second for 4 s from the kill on.
	done := make(chan *tally, 1)
	if err := f.Redis.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	go func() {
		c, _ := offer(client, url, launch.Token, 20, 80)
		done <- c
	}()

	// The client retries its create with the same key while it is
	// refused 503 (safe to retry), as the problem says.
	var id string
	refused := 0
	for {
		status, got, _, err := post(client, f.URL(), "failover-1")
		if err == nil && status == http.StatusCreated {
			id = got
			break
		}
		if err != nil || status != http.StatusServiceUnavailable {
			t.Fatalf("create during the failover: %d %v, want 201 or 503", status, err)
		}
		refused++
		if time.Since(killed) > 20*time.Second {
			t.Fatalf("creates still refused 20s after the kill (%d refusals)", refused)
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(killed)
	master, err := f.Master(context.Background())
	if err != nil || master != f.RedisReplica.Addrs["redis"] {
		t.Errorf("the sentinels name %s (%v) primary, want the replica %s", master, err, f.RedisReplica.Addrs["redis"])
	}
	// The repeat may reach the other replica while its client still
	// looks for the new primary: a 503 there is safe to retry, and the
	// client retries it as it did the create.
	status, again, replayed, err := post(client, f.URL(), "failover-1")
	for err == nil && status == http.StatusServiceUnavailable && time.Since(killed) < 20*time.Second {
		time.Sleep(100 * time.Millisecond)
		status, again, replayed, err = post(client, f.URL(), "failover-1")
	}
	if err != nil || status != http.StatusCreated || again != id || !replayed {
		t.Errorf("the repeat of the create: %d %q replayed %v (%v), want the replay of %s", status, again, replayed, err, id)
	}
	c := <-done
	t.Logf("a create refused %d times, then made in %s; GETs meanwhile: %v", refused, took.Round(time.Millisecond), c)
	if n := c.failed(); n != 0 {
		t.Errorf("%d GETs failed during the failover, want 0 (rate limits fail open): %v", n, c)
	}

	// The fleet's limit holds on the new primary: 100 a second for 1 s,
	// ten times the token's rate.
	lim, spread := offer(client, url, limitedToken, 100, 100)
	admitted := lim.status[http.StatusOK]
	want := limitedRate + limitedRate*spread.Seconds()
	if float64(admitted) < 0.7*want || float64(admitted) > 1.3*want {
		t.Errorf("after the failover the fleet admitted %d of 100, want %.1f ±30%%: %v", admitted, want, lim)
	}
}
