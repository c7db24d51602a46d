package fleet

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"fanout/bench/launch"
)

// The actions below are what an operator does to a running fleet: a
// rolling restart, a kill -9, the loss of the Redis primary. bench's fleet
// scenario plays them while load runs through HAProxy. They are not safe
// for concurrent use with each other or with Close: one caller plays them
// in turn.

// DefaultUpWithin bounds how long Restart waits for HAProxy to count a
// started replica up: its checks run every second while a server is down
// (downinter) and two must pass (rise), so a few seconds on a busy machine.
const DefaultUpWithin = 15 * time.Second

// statsSocket is the path of HAProxy's stats socket in the fleet's
// directory.
func (f *Fleet) statsSocket() string { return filepath.Join(f.dir, "haproxy.sock") }

// State returns HAProxy's status of replica i (0-based), as its stats
// report it: "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2" (coming up),
// "NOLB" and so on.
func (f *Fleet) State(ctx context.Context, i int) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", f.statsSocket())
	if err != nil {
		return "", fmt.Errorf("haproxy stats: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	}
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return "", fmt.Errorf("haproxy stats: %w", err)
	}
	return serverStatus(bufio.NewReader(c), fmt.Sprintf("gw%d", i+1))
}

// serverStatus reads the CSV of HAProxy's `show stat` ("# pxname,svname,
// ...,status,...") and returns the status of server name of the backend
// of the replicas.
func serverStatus(r io.Reader, name string) (string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return "", fmt.Errorf("haproxy stats: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "# ")
	}
	px, sv, st := slices.Index(header, "pxname"), slices.Index(header, "svname"), slices.Index(header, "status")
	if px < 0 || sv < 0 || st < 0 {
		return "", fmt.Errorf("haproxy stats: no pxname, svname or status column in %q", header)
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("haproxy stats: no server gateways/%s", name)
		}
		if err != nil {
			return "", fmt.Errorf("haproxy stats: %w", err)
		}
		if len(rec) > st && rec[px] == "gateways" && rec[sv] == name {
			return rec[st], nil
		}
	}
}

// WaitState waits, at most within, until HAProxy reports replica i in
// state want ("UP", "DOWN"; "DOWN" matches "DOWN 1/2" too: down, and
// coming up).
func (f *Fleet) WaitState(ctx context.Context, i int, want string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last string
	var err error
	for {
		if last, err = f.State(ctx, i); err == nil && (last == want || want == "DOWN" && strings.HasPrefix(last, "DOWN ")) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %d: HAProxy reports %q (%v) after %v, want %s", i+1, last, err, within, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops replica i with SIGTERM, as a rolling restart does, and waits
// until it has exited (after its drain delay and grace period), which it
// must do with status 0.
func (f *Fleet) Stop(i int) error {
	if err := f.Gateways[i].Stop(f.drainDelay + launch.DefaultGrace + 10*time.Second); err != nil {
		return fmt.Errorf("replica %d: %w", i+1, err)
	}
	return nil
}

// Kill kills replica i with SIGKILL and waits until it is reaped.
func (f *Fleet) Kill(i int) error {
	if err := f.Gateways[i].Kill(); err != nil {
		return fmt.Errorf("replica %d: kill: %w", i+1, err)
	}
	return nil
}

// Restart starts replica i again, once it has exited, on the addresses it
// had (those of HAProxy's server line), and waits, at most within, until
// HAProxy counts it up again. It first waits until HAProxy has counted
// the old process down, so that the up it waits for is the new one's.
func (f *Fleet) Restart(ctx context.Context, i int, within time.Duration) error {
	old := f.Gateways[i]
	select {
	case <-old.Done():
	default:
		return fmt.Errorf("replica %d: still running (pid %d)", i+1, old.Pid())
	}
	if err := f.WaitState(ctx, i, "DOWN", within); err != nil {
		return err
	}
	g := f.gateway
	// The last -addr and -admin-addr win: the gateway's flags are Go's.
	g.Args = append(slices.Clip(g.Args), "-addr", old.Addrs["gateway"], "-admin-addr", old.Addr("admin"))
	gw, err := launch.StartGateway(ctx, f.gatewayBin, g, f.Mocks, f.logs)
	if err != nil {
		return fmt.Errorf("restart replica %d: %w", i+1, err)
	}
	f.Retired = append(f.Retired, old)
	f.Gateways[i] = gw
	return f.WaitState(ctx, i, "UP", within)
}

// FailOver kills the Redis primary of a Sentinel fleet with SIGKILL and
// waits, at most within, until the sentinels name its replica primary.
func (f *Fleet) FailOver(ctx context.Context, within time.Duration) error {
	if f.RedisReplica == nil {
		return errors.New("redis failover: the fleet's Redis has no replica (Options.Sentinel)")
	}
	if err := f.Redis.Kill(); err != nil {
		return fmt.Errorf("redis failover: kill the primary: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	want := f.RedisReplica.Addrs["redis"]
	for {
		got, err := f.Master(ctx)
		if err == nil && got == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis failover: the sentinels name %q (%v) primary %v after the kill, want the replica %s", got, err, within, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
