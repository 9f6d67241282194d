package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// priceListItem is the part of a Price List API product document Tailor
// reads.
type priceListItem struct {
	Product struct {
		Attributes struct {
			InstanceType string `json:"instanceType"`
		} `json:"attributes"`
	} `json:"product"`
	Terms struct {
		OnDemand map[string]struct {
			PriceDimensions map[string]struct {
				Unit         string            `json:"unit"`
				PricePerUnit map[string]string `json:"pricePerUnit"`
			} `json:"priceDimensions"`
		} `json:"OnDemand"`
	} `json:"terms"`
}

// ParsePriceListItem reads one GetProducts PriceList entry: the instance
// type and its on-demand hourly price in USD. Documents without an
// instance type or an hourly USD price are errors (the caller skips them).
// A pure function over untrusted input (fuzzed).
func ParsePriceListItem(doc string) (string, float64, error) {
	var it priceListItem
	if err := json.Unmarshal([]byte(doc), &it); err != nil {
		return "", 0, err
	}
	typ := it.Product.Attributes.InstanceType
	if typ == "" {
		return "", 0, errors.New("price list item without instanceType")
	}
	best := math.Inf(1)
	for _, term := range it.Terms.OnDemand {
		for _, d := range term.PriceDimensions {
			if d.Unit != "Hrs" {
				continue
			}
			p, err := ParsePrice(d.PricePerUnit["USD"])
			if err != nil {
				continue
			}
			best = min(best, p)
		}
	}
	if math.IsInf(best, 1) {
		return "", 0, fmt.Errorf("price list item %s without an hourly USD on-demand price", typ)
	}
	return typ, best, nil
}

// ParsePrice reads a USD price ("0.0960000000"): a finite, non-negative
// decimal below $10,000 an hour.
func ParsePrice(s string) (float64, error) {
	p, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(p) || p < 0 || p >= 1e4 {
		return 0, fmt.Errorf("price %q out of range", s)
	}
	return p, nil
}
