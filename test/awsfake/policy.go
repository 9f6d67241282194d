package awsfake

import (
	"encoding/json"
	"os"
	"sort"
)

// impliedActions are authorised by IAM for a call but never sent on
// their own: CreateFleet launches through ec2:RunInstances, tags through
// ec2:CreateTags and passes the node role (iam:PassRole).
var impliedActions = map[string]string{
	"ec2:RunInstances": "ec2:CreateFleet",
	"ec2:CreateTags":   "ec2:CreateFleet",
	"iam:PassRole":     "ec2:CreateFleet",
}

// CheckPolicy compares the actions an IAM policy file grants with the
// actions called (plus those they imply): missing are called but not
// granted, extra granted but never called.
func CheckPolicy(file string, called []string) (missing, extra []string, err error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	var pol struct {
		Statement []struct {
			Action any
		}
	}
	if err := json.Unmarshal(b, &pol); err != nil {
		return nil, nil, err
	}
	granted := map[string]bool{}
	for _, st := range pol.Statement {
		switch a := st.Action.(type) {
		case string:
			granted[a] = true
		case []any:
			for _, x := range a {
				if s, ok := x.(string); ok {
					granted[s] = true
				}
			}
		}
	}
	want := map[string]bool{}
	for _, a := range called {
		want[a] = true
	}
	for a, by := range impliedActions {
		if want[by] {
			want[a] = true
		}
	}
	for a := range want {
		if !granted[a] {
			missing = append(missing, a)
		}
	}
	for a := range granted {
		if !want[a] {
			extra = append(extra, a)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return missing, extra, nil
}
