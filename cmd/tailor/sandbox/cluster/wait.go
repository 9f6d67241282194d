package cluster

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// WaitFor polls check until it succeeds, the timeout passes or proc dies;
// errors carry the last check error and the tail of the process log.
func WaitFor(ctx context.Context, timeout time.Duration, proc *Process, check func() error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		if last = check(); last == nil {
			return true, nil
		}
		if !proc.Alive() {
			return false, fmt.Errorf("%s exited: %v\n%s", proc.Name, last, proc.Tail(20))
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case wait.Interrupted(err):
		return fmt.Errorf("%s not ready after %s: %v\n%s", proc.Name, timeout, last, proc.Tail(20))
	}
	return err
}

// HTTPOK fails unless GET url answers 200.
func HTTPOK(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}

// FreePorts returns n distinct free loopback ports for servers to bind.
// They come from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range): a port from inside it, released until
// the server binds, can meanwhile become the source port of any outgoing
// connection (a client of the API server, say), and the server fails with
// "address already in use". Ports handed out once are not handed out
// again by this process.
func FreePorts(n int) ([]int, error) {
	lo, hi := portRange()
	portsMu.Lock()
	defer portsMu.Unlock()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 10*(hi-lo) {
			return nil, fmt.Errorf("no %d free loopback ports in [%d, %d)", n, lo, hi)
		}
		port := lo + rand.IntN(hi-lo)
		if handedOut[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		_ = l.Close()
		handedOut[port] = true
		ports = append(ports, port)
	}
	return ports, nil
}

var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{}
)

// portRange is the span FreePorts draws from: up to 12,000 ports just
// below the ephemeral range's start (32768 where /proc does not say).
func portRange() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 2048 {
				hi = v
			}
		}
	}
	return max(1024, hi-12000), hi
}
