package triggerapi

import (
	"slices"
	"strings"

	"github.com/triggergate/caddy-trigger-gateway/internal/jsontext"
)

// Variable is one pipeline variable: a name and its value.
type Variable struct {
	Name, Value string
}

// Variables are a request's pipeline variables, sorted by name, each name
// once. Sorted is the order everything downstream writes them in (the
// canonical body, a JSON object encoding/json writes from a map, a
// delivery's names), so the request path sorts them once, where they are
// parsed, and builds no map. nil is no variables.
type Variables []Variable

// VariablesOf returns the variables of m, sorted by name.
func VariablesOf(m map[string]string) Variables {
	if len(m) == 0 {
		return nil
	}
	vs := make(Variables, 0, len(m))
	for name, value := range m {
		vs = append(vs, Variable{name, value})
	}
	slices.SortFunc(vs, compareNames)
	return vs
}

// Lookup returns the value of the variable name, and whether there is one.
func (vs Variables) Lookup(name string) (string, bool) {
	if i, ok := vs.Index(name); ok {
		return vs[i].Value, true
	}
	return "", false
}

// Index is where name is in vs, or would be inserted, and whether it is there.
func (vs Variables) Index(name string) (int, bool) {
	return slices.BinarySearchFunc(vs, name, func(v Variable, name string) int { return strings.Compare(v.Name, name) })
}

// Names appends the variables' names to names, in order.
func (vs Variables) Names(names []string) []string {
	names = slices.Grow(names, len(vs))
	for _, v := range vs {
		names = append(names, v.Name)
	}
	return names
}

// MarshalJSON writes the variables as one JSON object, byte for byte as
// encoding/json writes a map[string]string of them: names in byte order,
// strings escaped alike; {} for none.
func (vs Variables) MarshalJSON() ([]byte, error) {
	return vs.appendJSON(make([]byte, 0, vs.jsonSize())), nil
}

// appendJSON appends the variables as a JSON object.
func (vs Variables) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsontext.AppendString(dst, v.Name)
		dst = append(dst, ':')
		dst = jsontext.AppendString(dst, v.Value)
	}
	return append(dst, '}')
}

// jsonSize is the length of appendJSON's object when no string needs an
// escape (the common case): room enough in one allocation.
func (vs Variables) jsonSize() int {
	size := len("{}")
	for _, v := range vs {
		size += len(`"":"",`) + len(v.Name) + len(v.Value)
	}
	return size
}

// settled sorts variables gathered in the order the caller sent them and
// keeps, of each name, the last: a name sent twice counts once, with its
// last value, as when they were gathered into a map. It reuses vs's
// array; variables already sorted with no name twice (the common case)
// are only checked.
func (vs Variables) settled() Variables {
	if len(vs) == 0 {
		return nil
	}
	if strictlySorted(vs) {
		return vs
	}
	slices.SortStableFunc(vs, compareNames) // a name's values stay in the order sent
	kept := vs[:0]
	for i, v := range vs {
		if i+1 < len(vs) && vs[i+1].Name == v.Name {
			continue // a later value of the same name wins
		}
		kept = append(kept, v)
	}
	clear(vs[len(kept):]) // keep no strings alive beyond the slice's length
	return kept
}

// strictlySorted reports whether each name comes after the one before.
func strictlySorted(vs Variables) bool {
	for i := 1; i < len(vs); i++ {
		if vs[i-1].Name >= vs[i].Name {
			return false
		}
	}
	return true
}

func compareNames(a, b Variable) int { return strings.Compare(a.Name, b.Name) }
