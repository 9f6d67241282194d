package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestTableUpToDate regenerates the table from the facts file beside the
// repository (absent outside the development machines: then skipped) and
// compares it with the committed one.
func TestTableUpToDate(t *testing.T) {
	f, err := os.Open("../../../../shared/ec2/instance-types.csv")
	if err != nil {
		t.Skipf("EC2 facts not available: %v", err)
	}
	defer f.Close()
	want, err := render(f)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../instance-types.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Error("provisioner/catalog/instance-types.csv is stale: run go generate ./provisioner/catalog")
	}
}

func TestRenderRejects(t *testing.T) {
	head := strings.Join(Header, ",") + "\n"
	for name, body := range map[string]string{
		"bad header": "a,b\n",
		"family":     head + "m5.large,c5,2,8192,0,amd64,29,0.096\n",
		"vcpu":       head + "m5.large,m5,x,8192,0,amd64,29,0.096\n",
		"arch":       head + "m5.large,m5,2,8192,0,sparc,29,0.096\n",
		"price":      head + "m5.large,m5,2,8192,0,amd64,29,0\n",
		"duplicate":  head + "m5.large,m5,2,8192,0,amd64,29,0.096\nm5.large,m5,2,8192,0,amd64,29,0.096\n",
	} {
		if _, err := render(strings.NewReader(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	out, err := render(strings.NewReader(head + "m5.xlarge,m5,4,16384,0,amd64,58,0.192\nm5.large,m5,2,8192,0,amd64,29,0.096\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := head + "m5.large,m5,2,8192,0,amd64,29,0.096000\nm5.xlarge,m5,4,16384,0,amd64,58,0.192000\n"; string(out) != want {
		t.Errorf("render:\n%s\nwant\n%s", out, want)
	}
}
