package cluster

import (
	"fmt"
	"net"
	"testing"
)

// FreePorts hands out bindable ports below the kernel's ephemeral range,
// never the same one twice in a process, even while it is not bound.
func TestFreePorts(t *testing.T) {
	lo, hi := portRange()
	if lo < 1024 || hi <= lo {
		t.Fatalf("range [%d, %d)", lo, hi)
	}
	seen := map[int]bool{}
	for range 20 {
		ports, err := FreePorts(5)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if p < lo || p >= hi {
				t.Errorf("port %d outside [%d, %d)", p, lo, hi)
			}
			if seen[p] {
				t.Errorf("port %d handed out twice", p)
			}
			seen[p] = true
		}
	}
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if err != nil {
		t.Fatalf("port %d does not bind: %v", ports[0], err)
	}
	_ = l.Close()
}
