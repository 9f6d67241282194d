// Command gen writes the instance-type table that provisioner/catalog
// embeds, from the offline EC2 facts file (instance-types.csv with the
// columns instance_type, family, vcpu, memory_mib, gpu, arch, max_pods,
// on_demand_usd_per_hour_us_east_1). It checks every row, sorts by
// instance type and writes the same columns, so that the product never
// reads the facts file at run time and a stale table is a visible diff.
//
//	go run ./gen -in ../../../shared/ec2/instance-types.csv -out instance-types.csv
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Header is the column list of both files.
var Header = []string{"instance_type", "family", "vcpu", "memory_mib", "gpu", "arch", "max_pods", "on_demand_usd_per_hour_us_east_1"}

func main() {
	in := flag.String("in", "../../../shared/ec2/instance-types.csv", "EC2 facts CSV")
	out := flag.String("out", "instance-types.csv", "table to write")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	data, err := render(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// render validates the facts and returns the embedded table.
func render(r io.Reader) ([]byte, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 || strings.Join(rows[0], ",") != strings.Join(Header, ",") {
		return nil, fmt.Errorf("header must be %s", strings.Join(Header, ","))
	}
	body := rows[1:]
	seen := map[string]bool{}
	for i, row := range body {
		if err := check(row); err != nil {
			return nil, fmt.Errorf("row %d (%s): %w", i+2, strings.Join(row, ","), err)
		}
		if seen[row[0]] {
			return nil, fmt.Errorf("row %d: %s listed twice", i+2, row[0])
		}
		seen[row[0]] = true
		p, _ := strconv.ParseFloat(row[7], 64)
		row[7] = strconv.FormatFloat(p, 'f', 6, 64)
	}
	sort.Slice(body, func(i, j int) bool { return body[i][0] < body[j][0] })
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(Header); err != nil {
		return nil, err
	}
	if err := w.WriteAll(body); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func check(row []string) error {
	if len(row) != len(Header) {
		return fmt.Errorf("%d columns, want %d", len(row), len(Header))
	}
	name, family := row[0], row[1]
	if dot := strings.IndexByte(name, '.'); dot <= 0 || name[:dot] != family || dot == len(name)-1 {
		return fmt.Errorf("instance type %q is not %s.<size>", name, family)
	}
	for _, c := range []int{2, 3, 6} {
		if n, err := strconv.ParseInt(row[c], 10, 64); err != nil || n <= 0 {
			return fmt.Errorf("%s must be a positive integer", Header[c])
		}
	}
	if n, err := strconv.ParseInt(row[4], 10, 64); err != nil || n < 0 {
		return fmt.Errorf("gpu must be a non-negative integer")
	}
	if row[5] != "amd64" && row[5] != "arm64" {
		return fmt.Errorf("arch %q", row[5])
	}
	if p, err := strconv.ParseFloat(row[7], 64); err != nil || p <= 0 {
		return fmt.Errorf("price must be a positive number")
	}
	return nil
}
