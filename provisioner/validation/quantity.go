package validation

import "k8s.io/apimachinery/pkg/api/resource"

func parseQuantity(s string) (resource.Quantity, error) { return resource.ParseQuantity(s) }

func resourceQ(s string) resource.Quantity { return resource.MustParse(s) }
