package triggerapi

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func TestVariablesOf(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]string
		want Variables
	}{
		{"nil", nil, nil},
		{"empty", map[string]string{}, nil},
		{"sorted by name", map[string]string{"b": "2", "B": "1", "a": "", "A_1": "x"},
			Variables{{"A_1", "x"}, {"B", "1"}, {"a", ""}, {"b", "2"}}},
		{"bytes, not runes folded", map[string]string{"é": "1", "z": "2", "\xff": "3"},
			Variables{{"z", "2"}, {"é", "1"}, {"\xff", "3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VariablesOf(tt.m); !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("VariablesOf = %q, want %q", got, tt.want)
			}
		})
	}
}

// settled keeps the semantics of the map the variables used to be
// gathered into: each name once, with the last value sent for it.
func TestVariablesSettled(t *testing.T) {
	tests := []struct {
		name      string
		sent      Variables
		want      Variables
		unchanged bool // sorted with no name twice: the same array, as it was
	}{
		{"none", nil, nil, false},
		{"empty", Variables{}, nil, false},
		{"one", Variables{{"A", "1"}}, Variables{{"A", "1"}}, true},
		{"sorted", Variables{{"A", "1"}, {"B", "2"}, {"C", "3"}}, Variables{{"A", "1"}, {"B", "2"}, {"C", "3"}}, true},
		{"unsorted", Variables{{"C", "3"}, {"A", "1"}, {"B", "2"}}, Variables{{"A", "1"}, {"B", "2"}, {"C", "3"}}, false},
		{"twice: the last wins", Variables{{"A", "1"}, {"A", "2"}}, Variables{{"A", "2"}}, false},
		{"three times, apart", Variables{{"A", "1"}, {"B", "x"}, {"A", "2"}, {"C", ""}, {"A", "3"}},
			Variables{{"A", "3"}, {"B", "x"}, {"C", ""}}, false},
		{"the last is empty", Variables{{"A", "1"}, {"A", ""}}, Variables{{"A", ""}}, false},
		{"case matters", Variables{{"a", "1"}, {"A", "2"}}, Variables{{"A", "2"}, {"a", "1"}}, false},
		{"empty name", Variables{{"B", "1"}, {"", "2"}, {"", "3"}}, Variables{{"", "3"}, {"B", "1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent := slices.Clone(tt.sent)
			got := sent.settled()
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("settled = %q, want %q", got, tt.want)
			}
			if tt.unchanged && (&got[0] != &sent[0] || !slices.Equal(sent, tt.sent)) {
				t.Errorf("settled rewrote sorted variables")
			}
			for _, v := range sent[len(got):] {
				if v != (Variable{}) {
					t.Errorf("settled left %q past its result", v)
				}
			}
		})
	}
}

// Against the map it replaces, on random sequences with repeated names.
func TestVariablesSettledAsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 1))
	for range 2000 {
		n := r.IntN(40)
		sent := make(Variables, n)
		m := map[string]string{}
		for i := range sent {
			name := string(rune('A' + r.IntN(12)))
			if r.IntN(3) == 0 {
				name += "_" + strconv.Itoa(r.IntN(3))
			}
			sent[i] = Variable{name, strconv.Itoa(i)}
			m[name] = sent[i].Value
		}
		if got, want := slices.Clone(sent).settled(), VariablesOf(m); !slices.Equal(got, want) {
			t.Fatalf("settled(%q) = %q, want %q", sent, got, want)
		}
	}
}

func TestVariablesLookup(t *testing.T) {
	vs := Variables{{"A", "1"}, {"B_2", ""}, {"a", "x"}}
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"A", "1", true}, {"B_2", "", true}, {"a", "x", true},
		{"", "", false}, {"B", "", false}, {"b", "", false}, {"Z", "", false}, {"aa", "", false},
	}
	for _, tt := range tests {
		if got, ok := vs.Lookup(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := Variables(nil).Lookup("A"); ok {
		t.Error("Lookup on no variables found one")
	}
}

// The variables' JSON, alone and in the canonical body, is encoding/json's
// for the map they replace, byte for byte.
func TestVariablesJSONAsAMap(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]string
	}{
		{"none", nil},
		{"plain", map[string]string{"DEPLOY": "yes", "A": "1", "B_2": ""}},
		{"escapes", map[string]string{"Q": "say \"hi\"\n\t\\", "C": "\x00\x1f\x7f", "H": "<a href=\"x\">&amp;</a>"}},
		{"escaped names", map[string]string{"a\"b": "1", "<n>": "2", "a&b": "3", "\n": "4"}},
		{"non-ASCII", map[string]string{"É": "é ✓ 😀", "e": "\u2028\u2029", "z": "\ufeff"}},
		{"invalid UTF-8", map[string]string{"a\xff": "\xfe\xfd", "a": "ok\xc3"}},
		{"names sorted by bytes", map[string]string{"b": "", "B": "", "a": "", "_": "", "0": "", "é": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := VariablesOf(tt.m)
			object := tt.m
			if object == nil {
				object = map[string]string{} // the gateway always sends an object
			}
			want, err := json.Marshal(object)
			if err != nil {
				t.Fatal(err)
			}
			got, err := vs.MarshalJSON()
			if err != nil || string(got) != string(want) {
				t.Errorf("MarshalJSON = %s, %v; want %s", got, err, want)
			}
			// Inside another document, as the upstream modules send them.
			inner, err := json.Marshal(struct {
				V Variables `json:"variables"`
			}{vs})
			if err != nil || string(inner) != `{"variables":`+string(want)+`}` {
				t.Errorf("json.Marshal = %s, %v; want variables %s", inner, err, want)
			}
			token, ref := "glptt-<&>", "main\xff"
			wantBody, err := json.Marshal(object)
			if err != nil {
				t.Fatal(err)
			}
			tokenJSON, _ := json.Marshal(token)
			refJSON, _ := json.Marshal(ref)
			canonical := `{"token":` + string(tokenJSON) + `,"ref":` + string(refJSON) + `,"variables":` + string(wantBody) + `}`
			if got := CanonicalBody(token, ref, vs, nil, nil); string(got) != canonical {
				t.Errorf("CanonicalBody = %s, want %s", got, canonical)
			}
		})
	}
}

// Every form gathers variables into the same settled Variables: sorted,
// each name once with its last value; a JSON body's variables replace the
// query's, a form body's add to them.
func TestParseVariablesOrderAndRepeats(t *testing.T) {
	const tr = "token=T&ref=main&"
	tests := []struct {
		name, contentType, query, body string
		want                           Variables
	}{
		{"form in order", "", tr + "variables[A]=1&variables[B]=2", "", Variables{{"A", "1"}, {"B", "2"}}},
		{"form out of order", "", tr + "variables[Z]=1&variables[M]=2&variables[A]=3", "",
			Variables{{"A", "3"}, {"M", "2"}, {"Z", "1"}}},
		{"form repeat", "", tr + "variables[A]=1&variables[B]=2&variables[A]=3", "", Variables{{"A", "3"}, {"B", "2"}}},
		{"body after query", "application/x-www-form-urlencoded", tr + "variables[A]=q&variables[C]=q",
			"variables[A]=b&variables[B]=b", Variables{{"A", "b"}, {"B", "b"}, {"C", "q"}}},
		{"json replaces the query's", "application/json", tr + "variables[Q]=q",
			`{"variables":{"B":"1","A":"2"}}`, Variables{{"A", "2"}, {"B", "1"}}},
		{"json null keeps the query's", "application/json", tr + "variables[Q]=q",
			`{"variables":null}`, Variables{{"Q", "q"}}},
		{"json repeat", "application/json", tr, `{"variables":{"A":"1","B":"2","A":"3"}}`, Variables{{"A", "3"}, {"B", "2"}}},
		{"json not a string, then a string", "application/json", tr, `{"variables":{"A":1,"B":"2","A":"3"}}`,
			Variables{{"A", "3"}, {"B", "2"}}},
		{"json empty object", "application/json", tr + "variables[Q]=q", `{"variables":{}}`, nil},
		{"many", "", tr + manyVariables(40), "", manyWant(40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, perr := Parse(Route{Kind: KindPipeline, Project: "9"}, tt.contentType, tt.query, []byte(tt.body))
			if perr != nil {
				t.Fatalf("Parse: %s", perr.Body)
			}
			if !slices.Equal(req.Variables, tt.want) {
				t.Errorf("Variables = %q, want %q", req.Variables, tt.want)
			}
		})
	}
	// A JSON name whose last value is not a string is refused, whatever came before.
	for _, body := range []string{`{"variables":{"A":"1","A":2}}`, `{"variables":{"A":"1","B":"2","B":null}}`} {
		if _, perr := Parse(Route{Kind: KindPipeline, Project: "9"}, "application/json", tr, []byte(body)); perr != ErrVariablesShape {
			t.Errorf("Parse(%s) = %v, want ErrVariablesShape", body, perr)
		}
	}
}

// manyVariables sends n variables, in reverse order, the first name twice.
func manyVariables(n int) string {
	s := "variables[V00]=first&"
	for i := n - 1; i >= 0; i-- {
		s += "variables[V" + pad2(i) + "]=" + strconv.Itoa(i) + "&"
	}
	return s
}

func manyWant(n int) Variables {
	var vs Variables
	for i := range n {
		vs = append(vs, Variable{"V" + pad2(i), strconv.Itoa(i)})
	}
	return vs
}

func pad2(i int) string {
	if i < 10 {
		return "0" + strconv.Itoa(i)
	}
	return strconv.Itoa(i)
}

// Parsing a form's variables costs one allocation for all of them.
func TestParseVariablesAllocations(t *testing.T) {
	route := Route{Kind: KindPipeline, Project: "9"}
	query := "token=T&ref=main&variables[A]=1&variables[B]=2&variables[C]=3&variables[D]=4&variables[E]=5"
	withVariables := testing.AllocsPerRun(100, func() { _, _ = Parse(route, "", query, nil) })
	without := testing.AllocsPerRun(100, func() { _, _ = Parse(route, "", "token=T&ref=main", nil) })
	if withVariables-without != 1 {
		t.Errorf("5 variables cost %v allocations, want 1", withVariables-without)
	}
}
