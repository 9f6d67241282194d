package simulate

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

const promOK = `{"status":"success","data":{"resultType":"matrix","result":[
 {"metric":{"pod":"a","container":"app","resource":"cpu"},"values":[[100,"0.5"],[160,"0.25"]]},
 {"metric":{"pod":"a","container":"app","resource":"memory"},"values":[[100,"1000"],[160,"2000"],[220,"3000"]]}
]}}`

func TestReadUsage(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Series // nil: error expected
		err      string
	}{
		{name: "bitbrains", in: "vm,unix_s,cpu_cores,cpu_used_cores,mem_provisioned_bytes,mem_used_bytes\n2,20,4,1.5,100,50\n1,10,2,0.5,10,5\n1,5,2,0.25,10,4\n",
			want: []Series{
				{Name: "1", Samples: []Sample{{T: 5, CPU: 0.25, Mem: 4, ProvCPU: 2, ProvMem: 10}, {T: 10, CPU: 0.5, Mem: 5, ProvCPU: 2, ProvMem: 10}}},
				{Name: "2", Samples: []Sample{{T: 20, CPU: 1.5, Mem: 50, ProvCPU: 4, ProvMem: 100}}},
			}},
		{name: "minimal", in: "container,unix_s,cpu_used_cores,mem_used_bytes\n# a comment\nweb,60,0.1,1e6\n",
			want: []Series{{Name: "web", Samples: []Sample{{T: 60, CPU: 0.1, Mem: 1e6}}}}},
		{name: "gzip", in: gz("container,unix_s,cpu_used_cores,mem_used_bytes\nweb,60,0.1,7\n"),
			want: []Series{{Name: "web", Samples: []Sample{{T: 60, CPU: 0.1, Mem: 7}}}}},
		{name: "prometheus", in: promOK,
			want: []Series{{Name: "container=app,pod=a", Samples: []Sample{{T: 100, CPU: 0.5, Mem: 1000}, {T: 160, CPU: 0.25, Mem: 2000}}}}},
		{name: "empty", in: "  \n", err: "x: empty"},
		{name: "missing column", in: "container,unix_s,cpu_used_cores\n", err: "x:1: missing column(s) mem_used_bytes"},
		{name: "no container", in: "unix_s,cpu_used_cores,mem_used_bytes\n1,2,3\n", err: "missing column container"},
		{name: "bad number", in: "container,unix_s,cpu_used_cores,mem_used_bytes\nweb,60,0.1,7\nweb,120,lots,7\n", err: `x:3:9: cpu_used_cores: want a number, got "lots"`},
		{name: "negative", in: "container,unix_s,cpu_used_cores,mem_used_bytes\nweb,60,0.1,-7\n", err: "x:2:12: mem_used_bytes: want a finite number >= 0"},
		{name: "NaN", in: "container,unix_s,cpu_used_cores,mem_used_bytes\nweb,60,NaN,7\n", err: "x:2:8: cpu_used_cores"},
		{name: "bad time", in: "container,unix_s,cpu_used_cores,mem_used_bytes\nweb,1.5,0.1,7\n", err: `x:2:5: unix_s: want an integer, got "1.5"`},
		{name: "duplicate time", in: "container,unix_s,cpu_used_cores,mem_used_bytes\nweb,60,0.1,7\ndb,60,0.1,7\nweb,60,0.2,7\n", err: "x:4: container web has a second sample at 60 (first on line 2)"},
		{name: "short row", in: "container,unix_s,cpu_used_cores,mem_used_bytes\nweb,60,0.1\n", err: "x:2:1: wrong number of fields"},
		{name: "no rows", in: "container,unix_s,cpu_used_cores,mem_used_bytes\n", err: "x: no samples"},
		{name: "prometheus vector", in: `{"status":"success","data":{"resultType":"vector","result":[]}}`, err: `x:1: resultType "vector": want matrix`},
		{name: "prometheus error", in: `{"status":"error","errorType":"bad_data","error":"parse error"}`, err: `x:1: status "error", want success (parse error)`},
		{name: "prometheus no resource", in: "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[\n{\"metric\":{\"pod\":\"a\"},\"values\":[[1,\"1\"]]}]}}", err: `x:2: series pod=a has resource=""`},
		{name: "prometheus bad value", in: "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[\n{\"metric\":{\"resource\":\"cpu\"},\"values\":[\n[1,\"1\"],\n[2,\"NaN\"]]}]}}", err: `x:4: want a finite value >= 0, got "NaN"`},
		{name: "prometheus syntax", in: "{\"status\":\"success\",\n\"data\":{\"resultType\":\"matrix\",\"result\":[}}", err: "x:2: invalid character '}'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ReadUsage(strings.NewReader(tc.in), "x")
			if !wantErr(t, err, tc.want == nil, tc.err) {
				return
			}
			if len(u.Series) != len(tc.want) {
				t.Fatalf("%d series, want %d", len(u.Series), len(tc.want))
			}
			for i, s := range u.Series {
				w := tc.want[i]
				if s.Name != w.Name || len(s.Samples) != len(w.Samples) {
					t.Fatalf("series %d = %s with %d samples, want %s with %d", i, s.Name, len(s.Samples), w.Name, len(w.Samples))
				}
				for j := range s.Samples {
					if s.Samples[j] != w.Samples[j] {
						t.Errorf("%s sample %d = %+v, want %+v", s.Name, j, s.Samples[j], w.Samples[j])
					}
				}
			}
		})
	}
}

func TestReadLoad(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		start    int64
		want     []float64
		err      string
	}{
		{name: "plain", in: "1 2\n3\t4\n", want: []float64{1, 2, 3, 4}},
		{name: "csv held", in: "unix_s,rps\n100,5\n103,7\n104,1\n", start: 100, want: []float64{5, 5, 5, 7, 1}},
		{name: "prometheus", in: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[10,"2"],[12,"4"]]}]}}`, start: 10, want: []float64{2, 2, 4}},
		{name: "plain bad", in: "1 2\n3 x\n", err: `x:2: want requests per second (a finite number >= 0), got "x"`},
		{name: "plain negative", in: "1\n\n-2\n", err: "x:3:"},
		{name: "csv backwards", in: "unix_s,rps\n100,5\n99,7\n", err: "x:3: time 99 is not after the previous one (100)"},
		{name: "csv too long", in: "unix_s,rps\n0,5\n99999999999,7\n", err: "x:3: time 99999999999 is more than a year after"},
		{name: "prometheus two series", in: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[]},{"metric":{},"values":[]}]}}`, err: "x:1: 2 series, want exactly one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ReadLoad(strings.NewReader(tc.in), "x")
			if !wantErr(t, err, tc.want == nil, tc.err) {
				return
			}
			if l.Start != tc.start || len(l.RPS) != len(tc.want) {
				t.Fatalf("start %d, %v; want %d, %v", l.Start, l.RPS, tc.start, tc.want)
			}
			for i := range l.RPS {
				if l.RPS[i] != tc.want[i] {
					t.Fatalf("RPS = %v, want %v", l.RPS, tc.want)
				}
			}
		})
	}
}

func TestReadArrivals(t *testing.T) {
	const head = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
	a, err := ReadArrivals(strings.NewReader(head+"b,2000,1024,1,500,,LS,Running,30,,30\na,1000,512,0,0,,BE,Succeeded,10,90,10\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	want := []Pod{{Name: "a", CPUMilli: 1000, MemMiB: 512, Create: 10, Delete: 90}, {Name: "b", CPUMilli: 2000, MemMiB: 1024, GPUs: 1, Create: 30, Delete: 90}}
	if len(a.Pods) != 2 || a.Pods[0] != want[0] || a.Pods[1] != want[1] {
		t.Fatalf("pods = %+v, want %+v (sorted by creation; open-ended ones end with the trace)", a.Pods, want)
	}
	for _, tc := range []struct{ name, in, err string }{
		{"missing column", "name,cpu_milli,memory_mib,creation_time\n", "x:1: missing column(s) deletion_time"},
		{"deleted before created", head + "a,1,1,0,0,,LS,Running,50,40,50\n", "x:2:26: deletion_time: deletion_time 40 before creation_time 50"},
		{"bad cpu", head + "a,lots,1,0,0,,LS,Running,50,60,50\n", `x:2:3: cpu_milli: want an integer, got "lots"`},
		{"negative", head + "a,1,-1,0,0,,LS,Running,50,60,50\n", "x:2:5: memory_mib: negative value -1"},
		{"no pods", head, "x: no pods"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadArrivals(strings.NewReader(tc.in), "x")
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// wantErr fails t unless err is as expected (an error containing msg when
// fail, none otherwise); it reports whether the result is there to check.
func wantErr(t *testing.T, err error, fail bool, msg string) bool {
	t.Helper()
	switch {
	case fail && (err == nil || !strings.Contains(err.Error(), msg)):
		t.Fatalf("err = %v, want one containing %q", err, msg)
	case !fail && err != nil:
		t.Fatal(err)
	}
	return !fail
}
