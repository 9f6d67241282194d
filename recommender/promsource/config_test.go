package promsource

import (
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	c := DefaultConfig()
	c.Address = "http://127.0.0.1:9090"
	return c
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "address is required") {
		t.Errorf("the default has no address: Validate = %v", err)
	}
	if err := validConfig().Validate(); err != nil {
		t.Errorf("defaults with an address: %v", err)
	}
	// Upstream VPA's history defaults.
	if c.HistoryLength != 8*24*time.Hour || c.HistoryResolution != time.Hour || c.Timeout != 10*time.Second || c.RateWindow != 5*time.Minute {
		t.Errorf("defaults %+v", c)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // substrings of the error; none: valid
	}{
		{"https with a path prefix", func(c *Config) { c.Address = "https://prom.example:443/prometheus/" }, nil},
		{"throttling off", func(c *Config) { c.ThrottledPeriodsMetric, c.PeriodsMetric = "", "" }, nil},
		{"selector", func(c *Config) { c.Selector = `job="kubelet", metrics_path=~"/metrics/(cadvisor|resource)"` }, nil},
		{"selector in braces", func(c *Config) { c.Selector = "{job!=`x`}" }, nil},
		{"sub-second timeout", func(c *Config) { c.Timeout = 250 * time.Millisecond }, nil},
		{"no scheme", func(c *Config) { c.Address = "prometheus:9090" }, []string{`"prometheus:9090": want an http:// or https:// URL`}},
		{"no host", func(c *Config) { c.Address = "http:///x" }, []string{"no host"}},
		{"query", func(c *Config) { c.Address = "http://p:9090/?x=1" }, []string{"no query"}},
		{"unparsable", func(c *Config) { c.Address = "http://[::1" }, []string{"prometheus address"}},
		{"timeout", func(c *Config) { c.Timeout = 0 }, []string{"timeout must be positive"}},
		{"timeout in microseconds", func(c *Config) { c.Timeout = 1500 * time.Microsecond }, []string{"whole number of milliseconds"}},
		{"metric names", func(c *Config) { c.CPUMetric, c.MemoryMetric = "cpu usage", "" }, []string{`cpu metric "cpu usage"`, `memory metric ""`}},
		{"half throttling", func(c *Config) { c.PeriodsMetric = "" }, []string{"both metrics or neither"}},
		{"bad throttling name", func(c *Config) { c.PeriodsMetric = "1x" }, []string{`periods metric "1x"`}},
		{"label names", func(c *Config) { c.PodLabel, c.ContainerLabel = "pod-name", "__name__" }, []string{`pod label "pod-name"`, `container label "__name__"`}},
		{"same label twice", func(c *Config) { c.ContainerLabel = "pod" }, []string{`pod label and container label are both "pod"`}},
		{"selector without quotes", func(c *Config) { c.Selector = "job=kubelet" }, []string{"quoted value expected"}},
		{"selector with a bad regexp", func(c *Config) { c.Selector = `job=~"(x"` }, []string{"regular expression of job"}},
		{"selector without operator", func(c *Config) { c.Selector = `job "x"` }, []string{"operator"}},
		{"selector without comma", func(c *Config) { c.Selector = `a="x" b="y"` }, []string{"comma expected"}},
		{"selector single quotes", func(c *Config) { c.Selector = `a='x'` }, []string{"quoted value expected"}},
		{"selector brace", func(c *Config) { c.Selector = `{a="x"` }, []string{"unbalanced"}},
		{"durations", func(c *Config) { c.RateWindow, c.HistoryLength, c.HistoryResolution = 0, -time.Hour, time.Microsecond }, []string{
			"rate window must be positive", "history length must be positive", "history resolution 1µs is not a whole number"}},
		{"resolution above length", func(c *Config) { c.HistoryResolution = 9 * 24 * time.Hour }, []string{"exceeds the history length"}},
		{"too many points", func(c *Config) { c.HistoryResolution = time.Minute }, []string{"11520 points per series; Prometheus allows 11000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(c); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := New(c); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestParseMatchers(t *testing.T) {
	got, err := parseMatchers(` { job = "kube\"let" ,metrics_path=~` + "`/a|/b`" + `, x!~"", y!="z", } `)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, m := range got {
		s = append(s, m.String())
	}
	if want := `job="kube\"let" metrics_path=~"/a|/b" x!~"" y!="z"`; strings.Join(s, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(s, " "), want)
	}
	if m, err := parseMatchers("  "); err != nil || len(m) != 0 {
		t.Errorf("empty: %v %v", m, err)
	}
}
