package transport

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// canWatch says that this platform can watch a client's socket.
const canWatch = true

// clientWatcher is the process's one watcher.
var clientWatcher watcher

// A watcher holds the sockets of the gateway's clients in one epoll
// instance, and one goroutine waits on it for the whole process. A socket
// is registered edge-triggered for hang-ups only (EPOLLRDHUP; EPOLLHUP and
// EPOLLERR are always reported), not for input: a pipelined request wakes
// nobody, and its bytes stay in the socket for fasthttp.
//
// A socket is registered at its connection's first watch and stays so
// until the connection is closed, which takes it out of the epoll instance.
// An event names a slot of a table and the slot's generation (a token),
// rather than the descriptor: the descriptor may be another connection's
// by the time the event is read, and the generation tells a stale event
// from the slot's next use.
//
// A connection of the gateway's listener (limitedConn) holds a slot of its
// own from its first watch to its close: a hang-up marks the slot (hungUp)
// and cancels the request watched then, if any, and each later watch only
// puts its request's cancel in the slot, without a system call, and finds
// a hang-up that came before it marked there. Another TCP connection (the
// tests') takes a slot per watch, and each later watch renames the socket
// to it (EPOLL_CTL_MOD, which also reports a hang-up that came before): a
// system call per request. The table grows to the most connections (or
// requests) watched at once and is reused, so that a watch allocates
// nothing in the steady state.
type watcher struct {
	once sync.Once
	epfd int // -1 if the epoll instance could not be made

	mu    sync.Mutex
	slots []watchSlot
	free  []uint32 // indices of the unused slots

	ctls atomic.Int64 // epoll_ctl calls made, for tests
}

// A watchSlot is one connection's (or one watch's) entry in the watcher's
// table.
type watchSlot struct {
	gen    uint32
	cancel context.CancelFunc // the request to cancel; nil once fired, between requests, or released
	hungUp bool               // the peer hung up: a hang-up is final
}

// A watchToken names a watch in the watcher's table, and travels in the
// data of its epoll events.
type watchToken struct{ idx, gen uint32 }

// start makes the epoll instance and its goroutine, once.
func (p *watcher) start() {
	p.once.Do(func() {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			// The gateway still works, only without noticing that a
			// client went away before its answer.
			slog.Warn("client disconnect watch disabled", "err", err)
			p.epfd = -1
			return
		}
		p.epfd = fd
		go p.wait()
	})
}

// reserve takes a slot for a watch that calls cancel.
func (p *watcher) reserve(cancel context.CancelFunc) watchToken {
	p.start()
	p.mu.Lock()
	defer p.mu.Unlock()
	var i uint32
	if n := len(p.free); n > 0 {
		i = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		i = uint32(len(p.slots))
		p.slots = append(p.slots, watchSlot{})
	}
	s := &p.slots[i]
	s.gen++
	s.cancel, s.hungUp = cancel, false
	return watchToken{idx: i, gen: s.gen}
}

// arm makes the slot of t, a connection's, cancel with cancel until
// disarm, and reports whether it could: false once the slot is released.
// A peer that hung up before is found at once: cancel is called before arm
// returns.
func (p *watcher) arm(t watchToken, cancel context.CancelFunc) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.slots[t.idx]
	if s.gen != t.gen {
		return false
	}
	if s.hungUp {
		cancel()
		return true
	}
	s.cancel = cancel
	return true
}

// disarm ends the watch that arm started on the slot of t: once it
// returns, the slot cancels nothing until the next arm.
func (p *watcher) disarm(t watchToken) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := &p.slots[t.idx]; s.gen == t.gen {
		s.cancel = nil
	}
}

// release frees the slot of t: after it, t's events are ignored and its
// cancel never called.
func (p *watcher) release(t watchToken) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.slots[t.idx]
	s.gen++
	s.cancel, s.hungUp = nil, false
	p.free = append(p.free, t.idx)
}

// add registers the socket fd under t, or renames it t if it is registered
// already, and says whether it could. A socket that has already hung up is
// reported at once.
func (p *watcher) add(fd uintptr, t watchToken) bool {
	if p.epfd < 0 {
		return false
	}
	p.ctls.Add(1)
	ev := unix.EpollEvent{Events: unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(t.idx), Pad: int32(t.gen)}
	errno := epollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	if errno == unix.ENOENT {
		errno = epollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	return errno == 0
}

// epollCtl is epoll_ctl(2) as a raw system call. It never blocks, so the
// scheduler need not be told (unix.EpollCtl's entersyscall and
// exitsyscall), which on an otherwise idle gateway also wakes the
// runtime's monitor thread (sysmon) from its sleep; a request makes one.
func epollCtl(epfd, op int, fd uintptr, ev *unix.EpollEvent) unix.Errno {
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), fd, uintptr(unsafe.Pointer(ev)), 0, 0)
	return errno
}

// wait cancels the watches whose sockets hang up, for the life of the
// process.
func (p *watcher) wait() {
	var evs [128]unix.EpollEvent
	for {
		n, err := unix.EpollWait(p.epfd, evs[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			slog.Error("client disconnect watch ended", "err", err)
			return
		}
		p.mu.Lock()
		for _, ev := range evs[:n] {
			if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
				continue
			}
			i := int(uint32(ev.Fd))
			if i >= len(p.slots) {
				continue
			}
			// cancel is called under the lock, so that once release or
			// disarm has returned it is never called.
			if s := &p.slots[i]; s.gen == uint32(ev.Pad) {
				s.hungUp = true
				if s.cancel != nil {
					s.cancel()
					s.cancel = nil
				}
			}
		}
		p.mu.Unlock()
	}
}
