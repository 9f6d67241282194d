package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSimulateCommand runs each kind end to end on a small trace, plots
// included, and checks bad input fails with the file and line.
func TestSimulateCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var usage strings.Builder
	usage.WriteString("container,unix_s,cpu_used_cores,mem_used_bytes,cpu_cores,mem_provisioned_bytes\n")
	for i := range 3 * 288 {
		for _, c := range []string{"a", "b"} {
			usage.WriteString(c + "," + strconv.Itoa(1372629600+300*i) + ",0." + strconv.Itoa(1+i%7) + "," + strconv.Itoa(100000000+1000*(i%50)) + ",2,1000000000\n")
		}
	}
	var load strings.Builder
	for i := range 3600 {
		load.WriteString(strconv.Itoa(100+50*((i/600)%2)) + "\n")
	}
	arrivals := "name,cpu_milli,memory_mib,num_gpu,creation_time,deletion_time\na,1000,1024,0,0,3600\nb,2000,2048,0,30,\n"
	for _, tc := range []struct {
		kind, file string
		want       []string
		extra      []string
	}{
		{"usage", write("u.csv", usage.String()), []string{"static", "vpa", "adaptive", "reserved ÷ used, cpu", "usage-cpu.svg"}, nil},
		{"load", write("l.txt", load.String()), []string{"hpa", "pod-hours ÷ oracle", "load-replicas.png"}, nil},
		{"arrivals", write("a.csv", arrivals), []string{"ffd", "provisioner", "node $·h ÷ bound", "disruption commands", "arrivals-cost.png"}, nil},
		{"usage", write("u2.csv", usage.String()), []string{"first part (before 2013-07-02T09:00:00Z)", "held-out part (from 2013-07-02T09:00:00Z)"}, []string{"--split", "0.5"}},
		{"load", write("l3.txt", load.String()), []string{"first part (seconds 0–1800)", "held-out part (seconds 1800–3600)"}, []string{"--split", "0.5"}},
	} {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetOut(&out)
		cmd.SetArgs(append([]string{"simulate", "--kind", tc.kind, "--trace", tc.file, "--out", filepath.Join(dir, "plots")}, tc.extra...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.kind, w, out.String())
			}
		}
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--kind", "usage", "--trace", write("bad.csv", "container,unix_s,cpu_used_cores,mem_used_bytes\na,1,x,2\n")}, "bad.csv:2:5: cpu_used_cores"},
		{[]string{"--kind", "weather", "--trace", write("w.csv", "x")}, `--kind "weather"`},
		{[]string{"--kind", "load", "--trace", write("l2.txt", "1 2 3"), "--policy", "magic"}, `unknown horizontal policy "magic"`},
		{[]string{"--kind", "usage", "--policy", "static", "--trace", write("np.csv", "container,unix_s,cpu_used_cores,mem_used_bytes\na,1,1,2\n")}, "policy static needs the columns"},
		{[]string{"--kind", "usage"}, `required flag(s) "trace" not set`},
		{[]string{"--kind", "usage", "--trace", write("s.csv", "x"), "--split", "1"}, "--split 1: want a fraction in (0, 1)"},
		{[]string{"--kind", "usage", "--trace", write("s2.csv", "x"), "--window", "0h,1h"}, "--window is for arrivals traces"},
		{[]string{"--kind", "arrivals", "--trace", write("a3.csv", arrivals), "--window", "2h,1h"}, `--window "2h,1h": want FROM,TO`},
		{[]string{"--kind", "arrivals", "--trace", write("a2.csv", arrivals), "--consolidation-policy", "Sometimes"}, `--consolidation-policy "Sometimes"`},
		{[]string{"--kind", "arrivals", "--trace", write("a4.csv", arrivals), "--scheduler", "Spread"}, `--scheduler: scheduler scoring "Spread": want LeastAllocated, MostAllocated or OldestFirst`},
	} {
		cmd := newRootCommand()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetArgs(append([]string{"simulate"}, tc.args...))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.err)
		}
	}
}
