package validation

import "strings"

// Allocation-free equivalents of the regular-expression checks in
// k8s.io/apimachinery/pkg/util/validation, used on the accept path; the
// apimachinery functions still produce the messages when a check fails.
// FuzzVPA asserts that both agree.

const (
	dns1123LabelMaxLength     = 63
	dns1123SubdomainMaxLength = 253
	dns1035LabelMaxLength     = 63
)

func isLowerAlnum(c byte) bool { return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') }

// isLabelBody reports whether s matches [a-z0-9]([-a-z0-9]*[a-z0-9])?.
func isLabelBody(s string) bool {
	if s == "" || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; c != '-' && !isLowerAlnum(c) {
			return false
		}
	}
	return true
}

// isDNS1123Label is utilvalidation.IsDNS1123Label(s) == nil.
func isDNS1123Label(s string) bool {
	return len(s) <= dns1123LabelMaxLength && isLabelBody(s)
}

// isDNS1123Subdomain is utilvalidation.IsDNS1123Subdomain(s) == nil.
func isDNS1123Subdomain(s string) bool {
	if len(s) > dns1123SubdomainMaxLength {
		return false
	}
	for {
		label, rest, more := strings.Cut(s, ".")
		if !isLabelBody(label) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// isDNS1035Label is utilvalidation.IsDNS1035Label(s) == nil.
func isDNS1035Label(s string) bool {
	return len(s) <= dns1035LabelMaxLength && isLabelBody(s) && 'a' <= s[0] && s[0] <= 'z'
}

// isKind is the rule the API server applies to the kind of a
// CustomResourceDefinition: its lower-case form is a DNS-1035 label. Only
// ASCII letters count as letters here (strings.ToLower would also turn the
// Kelvin sign into a k).
func isKind(s string) bool {
	if len(s) > dns1035LabelMaxLength || s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}
