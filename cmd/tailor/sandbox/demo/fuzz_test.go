package demo

import (
	"strings"
	"testing"
	"time"
)

// FuzzChecks: any trajectory is judged without panicking; the seed's
// passes; a run that does not end at one replica, or whose pool does not
// end empty, always fails.
func FuzzChecks(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 1, 250, 1, 7, 44, 2, 1, 0}, 6, 2)
	f.Add([]byte{}, 0, 0)
	f.Add([]byte{2, 7, 44}, 10, 1)
	f.Fuzz(func(t *testing.T, raw []byte, pods, nodes int) {
		var hp []HPAPoint
		var np []NodesPoint
		for i := 0; i+2 < len(raw); i += 3 {
			ph := Phase(raw[i] % 3)
			hp = append(hp, HPAPoint{At: time.Duration(i) * time.Second, Phase: ph, Replicas: int32(raw[i+1] % 12), Desired: int32(raw[i+1] % 12), Utilization: int32(raw[i+2]) - 1})
			np = append(np, NodesPoint{At: time.Duration(i) * time.Second, Phase: ph, Running: int(raw[i+1] % 12), Nodes: int(raw[i+2] % 4), Claims: int(raw[i+2] % 4), Cost: float64(raw[i+2]) / 100})
		}
		what, fails := CheckHPA(hp, SeedHPA)
		if what == "" {
			t.Fatal("no summary")
		}
		if n := len(hp); n > 0 && hp[n-1].Phase == PhaseDown && hp[n-1].Replicas != SeedHPA.Min && len(fails) == 0 {
			t.Fatalf("ended at %d replicas and passed", hp[n-1].Replicas)
		}
		HPASettled(hp, SeedHPA, time.Hour, 15*time.Second)
		_, nfails := CheckNodes(np, NodesExpect{Pods: pods, MaxNodes: nodes, Allowed: []string{"m5.large"}})
		if n := len(np); n > 0 && (np[n-1].Nodes != 0 || np[n-1].Phase != PhaseDown) && len(nfails) == 0 {
			t.Fatalf("ended with %d nodes in phase %s and passed", np[n-1].Nodes, np[n-1].Phase)
		}
		if s := Summary([]Result{{Scenario: "hpa", What: what, Failures: fails}}); !strings.HasPrefix(s, "SCENARIO") {
			t.Fatalf("summary %q", s)
		}
	})
}
