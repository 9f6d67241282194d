package load

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		name  string
		total int64
		pods  []Share
		want  map[string]int64
	}{
		{"no pods", 600, nil, map[string]int64{}},
		// The seed's php-apache: 600m on one pod limited to 500m shows 250 % of 200m.
		{"seed, one pod at its limit", 600, []Share{{"a", 500}}, map[string]int64{"a": 500}},
		{"seed, two pods", 600, []Share{{"a", 500}, {"b", 500}}, map[string]int64{"a": 300, "b": 300}},
		{"seed, seven pods: 86m each, 43 % of 200m", 600, []Share{{"a", 500}, {"b", 500}, {"c", 500}, {"d", 500}, {"e", 500}, {"f", 500}, {"g", 500}},
			map[string]int64{"a": 86, "b": 86, "c": 86, "d": 86, "e": 86, "f": 85, "g": 85}},
		{"remainder goes to the first by name", 10, []Share{{"c", 0}, {"a", 0}, {"b", 0}}, map[string]int64{"a": 4, "b": 3, "c": 3}},
		{"no limit, no cap", 5000, []Share{{"a", 0}}, map[string]int64{"a": 5000}},
		{"only the capped pod loses", 1000, []Share{{"a", 100}, {"b", 0}}, map[string]int64{"a": 100, "b": 500}},
		{"zero demand", 0, []Share{{"a", 500}}, map[string]int64{"a": 0}},
		{"negative demand is none", -5, []Share{{"a", 500}}, map[string]int64{"a": 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Split(tc.total, tc.pods); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Split(%d, %v) = %v, want %v", tc.total, tc.pods, got, tc.want)
			}
		})
	}
}
