package validation

import (
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

func parseQuantity(s string) (resource.Quantity, error) { return sizing.ParseQuantity(s) }

func resourceQ(s string) resource.Quantity { return resource.MustParse(s) }
