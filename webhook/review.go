package webhook

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
)

// The pod path reads the AdmissionReview envelope itself instead of
// controller-runtime's admission.Webhook (which decodes the whole review
// through the scheme's universal deserializer, about three passes over the
// body, then encodes the response by reflection): one validating pass over
// the body picks out what the handler reads, and the response is written
// from precomputed pieces into a pooled buffer.

// reviewRequest is what the pod handler reads of an AdmissionReview. The
// byte slices point into the request body.
type reviewRequest struct {
	// apiVersion of the review, answered in kind ("" means v1).
	apiVersion string
	// uid is the request uid as sent: the contents of a JSON string,
	// escapes included, written back verbatim.
	uid []byte
	// The request's kind, subResource and operation; object is the raw
	// JSON of request.object (nil when absent or null).
	group, kind, subResource, operation []byte
	namespace                           string
	object                              []byte
	// dryRun: the API server persists nothing, so Tailor records nothing
	// either (the webhooks declare sideEffects: None).
	dryRun bool
}

// Versions of AdmissionReview, as controller-runtime accepts them (both
// have the same fields).
const (
	reviewV1      = "admission.k8s.io/v1"
	reviewV1beta1 = "admission.k8s.io/v1beta1"
)

// maxReviewBytes is controller-runtime's limit on a review body: two
// objects of at most 3 MiB and the rest.
const maxReviewBytes = 7 << 20

// errReview is a body that is not an AdmissionReview Tailor can answer.
var errReview = errors.New("not an AdmissionReview")

// parseReview reads an AdmissionReview. It accepts exactly the JSON that
// encoding/json accepts (duplicate keys: the last one counts; keys
// case-sensitively, as the API server writes them) and fails on anything
// else, so a malformed review is an error, never a guess.
func parseReview(body []byte) (reviewRequest, error) {
	var r reviewRequest
	s := scanner{data: body}
	s.enter('{')
	for first := true; s.more('}', &first); {
		switch key := s.key(); string(key) {
		case "apiVersion":
			switch v := s.text(); string(v) {
			case "": // null or empty: v1, as controller-runtime reads it
				r.apiVersion = ""
			case reviewV1, reviewV1beta1:
				r.apiVersion = string(v)
			default:
				s.fail(fmt.Errorf("%w: apiVersion %q", errReview, v))
			}
		case "kind":
			if v := s.text(); len(v) > 0 && string(v) != "AdmissionReview" {
				s.fail(fmt.Errorf("%w: kind %q", errReview, v))
			}
		case "request":
			s.request(&r)
		default:
			s.skip()
		}
	}
	s.end()
	if s.err != nil {
		if !errors.Is(s.err, errReview) {
			return reviewRequest{}, fmt.Errorf("%w: %w", errReview, s.err)
		}
		return reviewRequest{}, s.err
	}
	return r, nil
}

func (s *scanner) request(r *reviewRequest) {
	if s.null() {
		return
	}
	s.enter('{')
	for first := true; s.more('}', &first); {
		switch key := s.key(); string(key) {
		case "uid":
			r.uid = s.rawText()
		case "kind":
			if s.null() {
				continue
			}
			s.enter('{')
			for first := true; s.more('}', &first); {
				switch key := s.key(); string(key) {
				case "group":
					r.group = s.text()
				case "kind":
					r.kind = s.text()
				default:
					s.skip()
				}
			}
		case "subResource":
			r.subResource = s.text()
		case "namespace":
			r.namespace = string(s.text())
		case "operation":
			r.operation = s.text()
		case "dryRun":
			r.dryRun = s.boolean()
		case "object":
			start := s.ws()
			if s.null() { // as RawExtension reads null: no change
				continue
			}
			s.skip()
			r.object = s.data[start:s.pos]
		default:
			s.skip()
		}
	}
}

// scanner walks JSON in one pass without allocating (except to unescape
// the rare string with escapes). The first error stops it: every method
// does nothing once err is set.
type scanner struct {
	data []byte
	pos  int
	err  error
}

func (s *scanner) fail(err error) {
	if s.err == nil {
		s.err = err
		s.pos = len(s.data)
	}
}

func (s *scanner) syntax(what string) {
	s.fail(fmt.Errorf("invalid JSON at offset %d: %s", s.pos, what))
}

// ws skips white space and returns the position of the next token.
func (s *scanner) ws() int {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return s.pos
		}
	}
	return s.pos
}

// peek returns the next token's first byte (0 at the end). The API server
// writes compact JSON, so the first byte is almost always the token: that
// case is inlined, white space goes through ws.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return s.data[s.pos]
	}
	if s.ws() < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// enter consumes c ('{' or '[').
func (s *scanner) enter(c byte) {
	if s.err == nil && s.peek() != c {
		s.syntax("want " + string(c))
		return
	}
	s.pos++
}

// more reports whether the object or array closed by c has another
// member, consuming the comma before it or the closing c.
func (s *scanner) more(c byte, first *bool) bool {
	if s.err != nil {
		return false
	}
	switch s.peek() {
	case c:
		s.pos++
		return false
	case ',':
		if *first {
			s.syntax("unexpected ,")
			return false
		}
		s.pos++
		return true
	}
	if !*first {
		s.syntax("want , or " + string(c))
		return false
	}
	*first = false
	return true
}

// end checks that nothing but white space follows the value.
func (s *scanner) end() {
	if s.err == nil && s.ws() != len(s.data) {
		s.syntax("data after the value")
	}
}

// null consumes a null.
func (s *scanner) null() bool {
	if s.err == nil && s.peek() == 'n' {
		s.literal("null")
		return true
	}
	return false
}

// boolean reads true, false or null (false), as a *bool field reads them.
func (s *scanner) boolean() bool {
	switch s.peek() {
	case 't':
		s.literal("true")
		return s.err == nil
	case 'f':
		s.literal("false")
	default:
		if !s.null() {
			s.syntax("want a boolean")
		}
	}
	return false
}

func (s *scanner) literal(lit string) {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		s.syntax("invalid literal")
		return
	}
	s.pos += len(lit)
}

// key reads a member name and its colon, unescaped.
func (s *scanner) key() []byte {
	k := s.text()
	if s.err == nil && s.peek() != ':' {
		s.syntax("want :")
		return nil
	}
	s.pos++
	return k
}

// skipKey reads a member name and its colon.
func (s *scanner) skipKey() {
	s.str()
	if s.err == nil && s.peek() != ':' {
		s.syntax("want :")
		return
	}
	s.pos++
}

// rawText reads a string and returns its contents as written, escapes
// included (nil for null).
func (s *scanner) rawText() []byte {
	if s.null() || s.err != nil {
		return nil
	}
	raw, _ := s.str()
	return raw
}

// text reads a string (or null: nil) and returns it unescaped.
func (s *scanner) text() []byte {
	if s.null() || s.err != nil {
		return nil
	}
	start := s.pos
	raw, escaped := s.str()
	if !escaped || s.err != nil {
		return raw
	}
	var v string
	if err := json.Unmarshal(s.data[start:s.pos], &v); err != nil {
		s.syntax(err.Error())
		return nil
	}
	return []byte(v)
}

// str reads a JSON string at pos and returns its contents as written;
// escaped: it has escapes or invalid UTF-8, which encoding/json would
// rewrite (invalid bytes become U+FFFD), so text() decodes it with it.
func (s *scanner) str() (raw []byte, escaped bool) {
	if s.peek() != '"' {
		s.syntax("want a string")
		return nil, false
	}
	s.pos++
	start := s.pos
	for s.pos < len(s.data) {
		s.pos = plainRun(s.data, s.pos)
		if s.pos >= len(s.data) {
			break
		}
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return s.data[start : s.pos-1], escaped
		case c == '\\':
			escaped = true
			s.pos++
			if s.pos >= len(s.data) {
				break
			}
			switch s.data[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				if len(s.data)-s.pos < 5 || !isHex(s.data[s.pos+1]) || !isHex(s.data[s.pos+2]) || !isHex(s.data[s.pos+3]) || !isHex(s.data[s.pos+4]) {
					s.syntax("invalid \\u escape")
					return nil, false
				}
				s.pos += 5
			default:
				s.syntax("invalid escape")
				return nil, false
			}
		case c < 0x20:
			s.syntax("control character in string")
			return nil, false
		default: // c >= utf8.RuneSelf
			r, n := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && n == 1 {
				escaped = true
			}
			s.pos += n
		}
	}
	s.syntax("unterminated string")
	return nil, false
}

// plainRun returns the position of the first byte at or after i in d that
// a string cannot take as it is: '"', '\\', a control character or a
// non-ASCII byte (len(d) if none). Eight bytes at a time: most of a
// review's bytes are inside strings (managedFields, images, labels), and a
// byte-by-byte loop was a quarter of the pod handler's time.
func plainRun(d []byte, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for ; i+8 <= len(d); i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		q := x ^ (ones * '"')
		b := x ^ (ones * '\\')
		// A byte of the mask has its high bit set where x's byte is '"',
		// '\\', below 0x20 or non-ASCII; the lowest such byte is exact (the
		// borrows only mark bytes above a true one).
		mask := ((q - ones) &^ q) | ((b - ones) &^ b) | (x - ones*0x20) | x
		if mask &= highs; mask != 0 {
			return i + bits.TrailingZeros64(mask)/8
		}
	}
	for ; i < len(d); i++ {
		if c := d[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number reads a JSON number.
func (s *scanner) number() {
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && '1' <= d[s.pos] && d[s.pos] <= '9':
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	default:
		s.syntax("invalid number")
		return
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.pos >= len(d) || !isDigit(d[s.pos]) {
			s.syntax("invalid number")
			return
		}
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.pos >= len(d) || !isDigit(d[s.pos]) {
			s.syntax("invalid number")
			return
		}
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	}
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

// skip reads one value of any kind, validating it, without recursion: open
// holds whether each enclosing container is an object.
func (s *scanner) skip() {
	var stack [64]bool
	open := stack[:0]
	for s.err == nil {
		// A value.
		switch c := s.peek(); {
		case c == '{' || c == '[':
			s.pos++
			if len(open) == maxDepth {
				s.syntax("nested too deeply")
				return
			}
			if s.peek() == c+2 { // '}' or ']': empty
				s.pos++
				break
			}
			open = append(open, c == '{')
			if c == '{' {
				s.skipKey()
			}
			continue
		case c == '"':
			s.str()
		case c == 't':
			s.literal("true")
		case c == 'f':
			s.literal("false")
		case c == 'n':
			s.literal("null")
		case c == '-' || isDigit(c):
			s.number()
		default:
			s.syntax("want a value")
			return
		}
		// After a value: the next member, or the end of containers.
		for s.err == nil {
			if len(open) == 0 {
				return
			}
			obj := open[len(open)-1]
			closing := byte(']')
			if obj {
				closing = '}'
			}
			switch s.peek() {
			case ',':
				s.pos++
				if obj {
					s.skipKey()
				}
			case closing:
				s.pos++
				open = open[:len(open)-1]
				continue
			default:
				s.syntax("want , or " + string(closing))
				return
			}
			break
		}
	}
}

// Response pieces.
var (
	respStart   = []byte(`{"kind":"AdmissionReview","apiVersion":"`)
	respUID     = []byte(`","response":{"uid":"`)
	respAllowed = []byte(`","allowed":true,"status":{"metadata":{},`)
	respMessage = []byte(`"message":`)
	respCode    = []byte(`"code":200}`)
	respPatch   = []byte(`,"patch":"`)
	respEnd     = []byte("\"patchType\":\"JSONPatch\"}}\n")
)

// appendResponse writes the AdmissionReview that admits req's object with
// message and the JSON patch (none when empty), as controller-runtime's
// admission.Allowed and admission.Patched encode it.
func appendResponse(b []byte, req *reviewRequest, message string, patch []byte) []byte {
	v := req.apiVersion
	if v == "" {
		v = reviewV1
	}
	b = append(b, respStart...)
	b = append(b, v...)
	b = append(b, respUID...)
	b = append(b, req.uid...)
	b = append(b, respAllowed...)
	if message != "" {
		b = append(b, respMessage...)
		b = appendJSONString(b, message)
		b = append(b, ',')
	}
	b = append(b, respCode...)
	if len(patch) == 0 {
		return append(b, "}}\n"...)
	}
	b = append(b, respPatch...)
	b = base64.StdEncoding.AppendEncode(b, patch)
	b = append(b, '"', ',')
	return append(b, respEnd...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes
// U+FFFD, as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendPatchJSON writes ops as a JSON patch. The values the pod steps
// build (strings and string maps, maps of them) are written directly,
// map keys sorted as encoding/json sorts them; any other value goes
// through encoding/json.
func appendPatchJSON(b []byte, ops []jsonpatch.JsonPatchOperation) ([]byte, error) {
	b = append(b, '[')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = appendJSONString(b, op.Operation)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, op.Path)
		if op.Value != nil {
			b = append(b, `,"value":`...)
			var err error
			if b, err = appendValue(b, op.Value); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v), nil
	case map[string]string:
		return appendMap(b, v, func(b []byte, s string) ([]byte, error) { return appendJSONString(b, s), nil })
	case map[string]any:
		return appendMap(b, v, appendValue)
	case bool:
		return strconv.AppendBool(b, v), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, data...), nil
}

// reviewState is one review's buffers, pooled: the body read, the patch
// and the response written.
type reviewState struct {
	body, patch, out []byte
	pod              podBuffers
	review           podReview
}

var reviewStates = sync.Pool{New: func() any { return &reviewState{} }}

// maxPooled: a buffer grown past this by an unusual review is dropped, not
// kept in the pool.
const maxPooled = 256 << 10

func (st *reviewState) release() {
	if cap(st.body) > maxPooled || cap(st.out) > maxPooled || cap(st.patch) > maxPooled {
		return
	}
	reviewStates.Put(st)
}

// read reads the review body into st.body; on error it returns the HTTP
// status to answer with.
func (st *reviewState) read(r *http.Request) ([]byte, int, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, http.StatusBadRequest, errors.New("request body is empty")
	}
	defer r.Body.Close()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return nil, http.StatusBadRequest, fmt.Errorf("contentType=%s, expected application/json", ct)
	}
	if r.ContentLength > maxReviewBytes {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", maxReviewBytes)
	}
	buf := st.body[:0]
	if n := int(r.ContentLength); n > cap(buf) {
		buf = make([]byte, 0, n+1) // +1: the read that sees EOF needs room
	}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(4096, len(buf)))
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		st.body = buf
		if len(buf) > maxReviewBytes {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", maxReviewBytes)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, http.StatusBadRequest, err
		}
	}
	if len(buf) == 0 {
		return nil, http.StatusBadRequest, errors.New("request body is empty")
	}
	return buf, http.StatusOK, nil
}

// appendMap writes m as a JSON object, keys sorted as encoding/json sorts
// them, each value by value.
func appendMap[V any](b []byte, m map[string]V, value func([]byte, V) ([]byte, error)) ([]byte, error) {
	var kb [8]string
	keys := kb[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		var err error
		if b, err = value(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}
