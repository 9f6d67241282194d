package promsource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// fakeProm is a Prometheus HTTP API on 127.0.0.1 (httptest) that records
// what it is asked and answers with canned JSON in the API's wire format.
type fakeProm struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []fakeReq
	answer func(r fakeReq) (status int, body string)
}

type fakeReq struct {
	Method, Path string
	Form         url.Values
	ctx          context.Context
}

func (r fakeReq) query() string { return r.Form.Get("query") }

func newFake(t *testing.T, answer func(fakeReq) (int, string)) *fakeProm {
	t.Helper()
	f := &fakeProm{answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := fakeReq{Method: r.Method, Path: r.URL.Path, Form: r.Form, ctx: r.Context()}
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		f.mu.Unlock()
		status, body := f.answer(req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProm) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

// The wire format: https://prometheus.io/docs/prometheus/latest/querying/api/
func success(resultType string, results ...string) string {
	return fmt.Sprintf(`{"status":"success","data":{"resultType":%q,"result":[%s]}}`, resultType, strings.Join(results, ","))
}

func apiError(errorType, msg string) string {
	return fmt.Sprintf(`{"status":"error","errorType":%q,"error":%q}`, errorType, msg)
}

// vs is one instant-vector sample of container ns/pod/c (extra: more
// "label":"value" pairs).
func vs(pod, c string, ts float64, v string, extra ...string) string {
	return fmt.Sprintf(`{"metric":{"namespace":"ns","pod":%q,"container":%q,"id":"/kubepods/x"%s},"value":[%s,%q]}`,
		pod, c, strings.Join(append([]string{""}, extra...), ","), fmtTS(ts), v)
}

// ms is one range-query series; pairs alternate time and value.
func ms(pod, c string, pairs ...any) string {
	var vals []string
	for i := 0; i+1 < len(pairs); i += 2 {
		vals = append(vals, fmt.Sprintf(`[%s,%q]`, fmtTS(pairs[i].(float64)), pairs[i+1]))
	}
	return fmt.Sprintf(`{"metric":{"namespace":"ns","pod":%q,"container":%q},"values":[%s]}`, pod, c, strings.Join(vals, ","))
}

func fmtTS(ts float64) string { return fmt.Sprintf("%.3f", ts) }

func newSource(t *testing.T, addr string, change func(*Config)) *Source {
	t.Helper()
	c := DefaultConfig()
	c.Address = addr
	if change != nil {
		change(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const now = 1_700_000_000.5

var nowTime = time.UnixMilli(1_700_000_000_500)

func TestLiveOverTheWire(t *testing.T) {
	const sel = `{job="kubelet",namespace="ns",container!="",container!="POD"}`
	queries := map[string]string{
		"cpu": `rate(container_cpu_usage_seconds_total` + sel + `[20s]) and container_cpu_usage_seconds_total` + sel +
			` and container_cpu_usage_seconds_total` + sel + ` offset 20s`,
		"memory":    `container_memory_working_set_bytes` + sel,
		"time":      `timestamp(container_cpu_usage_seconds_total` + sel + `)`,
		"throttled": `rate(container_cpu_cfs_throttled_periods_total` + sel + `[20s]) / (rate(container_cpu_cfs_periods_total` + sel + `[20s]) > 0)`,
	}
	answers := map[string]string{
		"cpu": success("vector",
			vs("p1", "a", now, "0.5", `"job":"kubelet"`),
			vs("p1", "a", now, "0.45", `"job":"kubelet","instance":"other"`), // a second series: max kept
			vs("p1", "b", now, "NaN"),
			vs("p2", "c", now, "-1"),
			vs("p2", "POD", now, "0.1"), // a cgroup aggregate
		),
		"memory": success("vector",
			vs("p1", "a", now, "209715200"),
			vs("p1", "b", now, "1e+30"),
			vs("p2", "c", now, "1048576"),
			vs("p3", "d", now, "+Inf"),
		),
		"time":      success("vector", vs("p1", "a", now, "1699999999"), vs("p2", "c", now, "1699999998.25")),
		"throttled": success("vector", vs("p1", "a", now, "0.25")),
	}
	f := newFake(t, func(r fakeReq) (int, string) {
		for k, q := range queries {
			if r.query() == q {
				return 200, answers[k]
			}
		}
		return 400, apiError("bad_data", "unexpected query "+r.query())
	})
	s := newSource(t, f.srv.URL, func(c *Config) { c.Selector = `job="kubelet"`; c.RateWindow = 20 * time.Second })
	s.now = func() time.Time { return nowTime.Add(999 * time.Microsecond) }

	live, err := s.Live(context.Background(), "ns")
	if err != nil {
		t.Fatal(err)
	}
	want := []ContainerUsage{
		usage("p1", "a", time.Unix(1_699_999_999, 0), 500, 200<<20, 0.25),
		usage("p2", "c", time.UnixMilli(1_699_999_998_250), -1, 1<<20, -1),
	}
	if fmt.Sprint(live.Containers) != fmt.Sprint(want) {
		t.Errorf("containers\n got %+v\nwant %+v", live.Containers, want)
	}
	if wantD := (Dropped{NotFinite: 2, Negative: 1, Absurd: 1, Aggregate: 1, Duplicate: 1}); live.Dropped != wantD {
		t.Errorf("dropped %+v, want %+v", live.Dropped, wantD)
	}
	if !live.Time.Equal(nowTime) || live.Window != 20*time.Second {
		t.Errorf("time %v window %v", live.Time, live.Window)
	}

	// What Prometheus was asked: POSTed forms at one evaluation time, with
	// the server-side timeout.
	reqs := f.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	got := map[string]bool{}
	for _, r := range reqs {
		got[r.query()] = true
		if r.Method != http.MethodPost || r.Path != "/api/v1/query" || r.Form.Get("time") != "1700000000.5" || r.Form.Get("timeout") != "10s" {
			t.Errorf("request %s %s %v", r.Method, r.Path, r.Form)
		}
	}
	for k, q := range queries {
		if !got[q] {
			t.Errorf("no %s query %s", k, q)
		}
	}

	pms, err := s.PodMetrics(context.Background(), "ns")
	if err != nil {
		t.Fatal(err)
	}
	if len(pms) != 2 || pms[0].Name != "p1" || pms[1].Name != "p2" {
		t.Fatalf("PodMetrics %+v", pms)
	}
	p1 := pms[0]
	if len(p1.Containers) != 1 || p1.Containers[0].Name != "a" || !p1.Timestamp.Time.Equal(time.Unix(1_699_999_999, 0)) || p1.Window.Duration != 20*time.Second {
		t.Errorf("p1 %+v", p1)
	}
	if cpu, mem := p1.Containers[0].Usage[corev1.ResourceCPU], p1.Containers[0].Usage[corev1.ResourceMemory]; cpu.String() != "500m" || mem.String() != "200Mi" {
		t.Errorf("p1/a cpu %s memory %s", cpu.String(), mem.String())
	}
	if _, ok := pms[1].Containers[0].Usage[corev1.ResourceCPU]; ok {
		t.Errorf("p2/c has a cpu usage: its only sample was negative")
	}
	if d := s.DroppedTotal(); d.Total() != 2*live.Dropped.Total() {
		t.Errorf("DroppedTotal %+v after two reads dropping %+v each", d, live.Dropped)
	}
}

func TestLiveWithoutThrottling(t *testing.T) {
	f := newFake(t, func(r fakeReq) (int, string) { return 200, success("vector") })
	s := newSource(t, f.srv.URL+"/prefix/", func(c *Config) { c.ThrottledPeriodsMetric, c.PeriodsMetric = "", "" })
	live, err := s.Live(context.Background(), "ns")
	if err != nil || len(live.Containers) != 0 {
		t.Fatalf("%+v %v", live, err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Errorf("%d queries, want 3 (no throttling)", len(reqs))
	}
	for _, r := range reqs {
		if r.Path != "/prefix/api/v1/query" {
			t.Errorf("path %s: the address' prefix is lost", r.Path)
		}
	}
}

func TestHistoryOverTheWire(t *testing.T) {
	end := time.Unix(1_700_000_000, 0)
	start := float64(end.Add(-2 * time.Hour).Unix())
	f := newFake(t, func(r fakeReq) (int, string) {
		q := r.query()
		var series []string
		for _, pod := range []string{"web.1", "web-2", "web-3"} {
			// The fake answers for the pods the regexp names.
			if !strings.Contains(q, strings.ReplaceAll(pod, ".", `\\.`)) {
				continue
			}
			if strings.HasPrefix(q, "rate(") {
				series = append(series, ms(pod, "app", start, "0.1", start+3600, "0.2", start+7200, "NaN"))
			} else {
				series = append(series, ms(pod, "app", start, "1000", start+3600, "-5", start+7200, "3000"))
			}
		}
		return 200, success("matrix", series...)
	})
	s := newSource(t, f.srv.URL, func(c *Config) { c.HistoryLength = 2 * time.Hour })
	s.maxRegexBytes = 12 // one pod per batch: `web\.1`, `web-2|web-3` is 11
	h, err := s.History(context.Background(), "ns", []string{"web-3", "web.1", "web-2", "web-2", ""}, end.Add(999*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if h.Queries != 4 || !h.Start.Equal(end.Add(-2*time.Hour)) || !h.End.Equal(end) || h.Step != time.Hour || h.CPUWindow != time.Hour {
		t.Errorf("result %+v", h)
	}
	if len(h.Series) != 3 || h.Series[0].Pod != "web-2" || h.Series[1].Pod != "web-3" || h.Series[2].Pod != "web.1" {
		t.Fatalf("series %+v", h.Series)
	}
	at := func(sec float64) time.Time { return time.Unix(int64(sec), 0) }
	wantPts := []Point{
		{Time: at(start), CPUMillicores: 100, MemoryBytes: 1000},
		{Time: at(start + 3600), CPUMillicores: 200, MemoryBytes: -1},
		{Time: at(start + 7200), CPUMillicores: -1, MemoryBytes: 3000},
	}
	for _, se := range h.Series {
		if se.Namespace != "ns" || se.Container != "app" || fmt.Sprint(se.Points) != fmt.Sprint(wantPts) {
			t.Errorf("%+v, want points %+v", se, wantPts)
		}
	}
	if h.Dropped != (Dropped{NotFinite: 3, Negative: 3}) {
		t.Errorf("dropped %+v", h.Dropped)
	}

	const sel = `{namespace="ns",container!="",container!="POD",pod=~%q}`
	want := map[string]bool{}
	for _, re := range []string{`web-2|web-3`, `web\.1`} {
		cpu := `container_cpu_usage_seconds_total` + fmt.Sprintf(sel, re)
		want[`rate(`+cpu+`[1h]) and `+cpu+` and `+cpu+` offset 1h`] = true
		want[`max_over_time(container_memory_working_set_bytes`+fmt.Sprintf(sel, re)+`[1h])`] = true
	}
	for _, r := range f.requests() {
		if !want[r.query()] {
			t.Errorf("unexpected query %s", r.query())
		}
		delete(want, r.query())
		if r.Path != "/api/v1/query_range" || r.Form.Get("start") != "1699992800" || r.Form.Get("end") != "1700000000" || r.Form.Get("step") != "3600" || r.Form.Get("timeout") != "10s" {
			t.Errorf("request %s %v", r.Path, r.Form)
		}
	}
	for q := range want {
		t.Errorf("not asked: %s", q)
	}

	// No pods: no query.
	n := len(f.requests())
	if h, err := s.History(context.Background(), "ns", nil, end); err != nil || len(h.Series) != 0 || len(f.requests()) != n {
		t.Errorf("no pods: %+v %v", h, err)
	}
}

func TestHistoryRateWindowLongerThanStep(t *testing.T) {
	f := newFake(t, func(fakeReq) (int, string) { return 200, success("matrix") })
	s := newSource(t, f.srv.URL, func(c *Config) {
		c.HistoryLength, c.HistoryResolution, c.RateWindow = 2*time.Minute, 5*time.Second, 20*time.Second
	})
	h, err := s.History(context.Background(), "ns", []string{"p"}, time.Unix(1000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if h.CPUWindow != 20*time.Second {
		t.Errorf("cpu window %s", h.CPUWindow)
	}
	for _, r := range f.requests() {
		q := r.query()
		if strings.HasPrefix(q, "rate(") && !(strings.Contains(q, "[20s]) and ") && strings.HasSuffix(q, " offset 20s")) || strings.HasPrefix(q, "max_over_time(") && !strings.HasSuffix(q, "[5s])") || r.Form.Get("step") != "5" {
			t.Errorf("query %s step %s", q, r.Form.Get("step"))
		}
	}
}

func TestPodRegexps(t *testing.T) {
	got := podRegexps([]string{"b", "a.b", "c", "b", "", "dddddddddd"}, 7)
	want := []string{`a\.b|b`, `c`, `dddddddddd`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if podRegexps(nil, 8) != nil {
		t.Error("no pods, yet a regexp")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		kind   Kind
		typ    string
		msg    []string // substrings of Error()
	}{
		{"422 execution", 422, apiError("execution", "query processing would load too many samples"), APIError, "execution",
			[]string{"error (HTTP 422): execution: query processing would load too many samples; query: rate("}},
		{"400 bad_data", 400, apiError("bad_data", `1:5: parse error`), APIError, "bad_data", []string{"HTTP 400", "bad_data: 1:5: parse error"}},
		{"500 internal", 500, apiError("internal", "storage failure"), APIError, "internal", []string{"HTTP 500", "internal: storage failure"}},
		{"500 text", 500, "something broke", APIError, "", []string{"error (HTTP 500): something broke"}},
		{"502 from a proxy", 502, "<html>Bad Gateway</html>", APIError, "", []string{"HTTP 502", "Bad Gateway"}},
		{"503 timeout", 503, apiError("timeout", "query timed out in expression evaluation"), Timeout, "timeout", []string{"timed out (HTTP 503)"}},
		{"503 unavailable", 503, apiError("unavailable", "TSDB not ready"), APIError, "unavailable", []string{"TSDB not ready"}},
		{"200 error body", 200, apiError("execution", "odd"), APIError, "execution", []string{"execution: odd"}},
		{"200 not JSON", 200, "hello", BadResponse, "", []string{"bad response (HTTP 200)"}},
		{"200 wrong type", 200, success("matrix"), BadResponse, "", []string{"result is matrix, want vector"}},
		{"200 scalar", 200, `{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`, BadResponse, "", []string{"result is scalar, want vector"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(fakeReq) (int, string) { return tt.status, tt.body })
			s := newSource(t, f.srv.URL, nil)
			_, err := s.PodMetrics(context.Background(), "ns")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			t.Log(err)
			if e.Kind != tt.kind || e.Type != tt.typ || KindOf(err) != tt.kind {
				t.Errorf("kind %q type %q, want %q %q: %v", e.Kind, e.Type, tt.kind, tt.typ, err)
			}
			if e.Query == "" || !strings.Contains(err.Error(), e.Query) || !strings.Contains(err.Error(), f.srv.URL) {
				t.Errorf("error %q lacks the query or address", err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
}

func TestSlowServer(t *testing.T) {
	released := make(chan struct{})
	var once sync.Once
	f := newFake(t, func(r fakeReq) (int, string) {
		select {
		case <-r.ctx.Done(): // the client hung up
			once.Do(func() { close(released) })
		case <-time.After(30 * time.Second):
		}
		return 200, success("vector")
	})
	s := newSource(t, f.srv.URL, func(c *Config) {
		c.Timeout = 300 * time.Millisecond
		c.ThrottledPeriodsMetric, c.PeriodsMetric = "", ""
	})
	start := time.Now()
	_, err := s.History(context.Background(), "ns", []string{"a"}, time.Now())
	took := time.Since(start)
	t.Log(err)
	if KindOf(err) != Timeout || !strings.Contains(err.Error(), "no answer within the query timeout of 300ms") {
		t.Errorf("error %v, want a timeout", err)
	}
	if took > 3*time.Second {
		t.Errorf("took %s with a 300ms timeout", took)
	}
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Error("the server's handler was not released")
	}
	if r := f.requests()[0]; r.Form.Get("timeout") != "300ms" {
		t.Errorf("server-side timeout %q", r.Form.Get("timeout"))
	}
	t.Logf("timed out after %s", took.Round(time.Millisecond))
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	s := newSource(t, addr, nil)
	start := time.Now()
	_, err = s.PodMetrics(context.Background(), "ns")
	t.Log(err)
	if KindOf(err) != Unreachable || !strings.Contains(err.Error(), "prometheus "+addr+": unreachable") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %v, want unreachable", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	if _, err := s.History(context.Background(), "ns", []string{"p"}, time.Now()); KindOf(err) != Unreachable || !strings.Contains(err.Error(), "query: rate(") && !strings.Contains(err.Error(), "query: max_over_time(") {
		t.Errorf("history: %v", err)
	}
}

func TestCanceledByCaller(t *testing.T) {
	f := newFake(t, func(r fakeReq) (int, string) {
		<-r.ctx.Done()
		return 200, success("vector")
	})
	s := newSource(t, f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := s.Live(ctx, "ns")
	if KindOf(err) != Canceled || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want canceled", err)
	}
}

func TestGetFallback(t *testing.T) {
	// Servers that refuse POST (405) are asked again with GET.
	f := newFake(t, func(r fakeReq) (int, string) {
		if r.Method == http.MethodPost {
			return http.StatusMethodNotAllowed, "POST not allowed"
		}
		if strings.HasPrefix(r.query(), "container_memory") {
			return 200, success("vector", vs("p", "c", now, "42"))
		}
		return 200, success("vector")
	})
	s := newSource(t, f.srv.URL, nil)
	pms, err := s.PodMetrics(context.Background(), "ns")
	if err != nil || len(pms) != 1 {
		t.Fatalf("%+v %v", pms, err)
	}
	if m := pms[0].Containers[0].Usage[corev1.ResourceMemory]; m.Value() != 42 {
		t.Errorf("memory %s", m.String())
	}
}

func TestServerTimeout(t *testing.T) {
	for d, want := range map[time.Duration]string{
		250 * time.Millisecond:  "250ms",
		10 * time.Second:        "10s",
		1500 * time.Millisecond: "2s",
		90 * time.Second:        "1m30s",
	} {
		if got := serverTimeout(d).String(); got != want {
			t.Errorf("serverTimeout(%s) = %s, want %s", d, got, want)
		}
	}
}
