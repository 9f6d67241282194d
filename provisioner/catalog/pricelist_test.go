package catalog

import (
	"strings"
	"testing"
)

func TestParsePriceListItem(t *testing.T) {
	doc := `{"product":{"attributes":{"instanceType":"m5.large"}},"terms":{"OnDemand":{"A.B":{"priceDimensions":{"A.B.C":{"unit":"Hrs","pricePerUnit":{"USD":"0.0960000000"}}}}}}}`
	cases := []struct {
		doc     string
		typ     string
		price   float64
		wantErr bool
	}{
		{doc, "m5.large", 0.096, false},
		{strings.Replace(doc, `"Hrs"`, `"Quantity"`, 1), "", 0, true},
		{strings.Replace(doc, `0.0960000000`, `NaN`, 1), "", 0, true},
		{strings.Replace(doc, `0.0960000000`, `-1`, 1), "", 0, true},
		{strings.Replace(doc, `m5.large`, ``, 1), "", 0, true},
		{`{`, "", 0, true},
	}
	for _, tc := range cases {
		typ, price, err := ParsePriceListItem(tc.doc)
		if (err != nil) != tc.wantErr || typ != tc.typ || price != tc.price {
			t.Errorf("%s: got %q %v %v", tc.doc, typ, price, err)
		}
	}
}

func FuzzParsePriceListItem(f *testing.F) {
	f.Add(`{"product":{"attributes":{"instanceType":"m5.large"}},"terms":{"OnDemand":{"A.B":{"priceDimensions":{"A.B.C":{"unit":"Hrs","pricePerUnit":{"USD":"0.0960000000"}}}}}}}`)
	f.Add(`{"terms":{"OnDemand":null}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		typ, price, err := ParsePriceListItem(doc)
		if err == nil && (typ == "" || price < 0 || price >= 1e4 || price != price) {
			t.Fatalf("accepted %q: %q %v", doc, typ, price)
		}
	})
}
