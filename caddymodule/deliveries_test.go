package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// deliverySecret is a variable value that no delivery may hold.
const deliverySecret = "never-stored-variable-value"

func TestServeHTTPRecordsDeliveries(t *testing.T) {
	created := answering{status: http.StatusCreated, contentType: "application/json", body: gitlabPipelineJSON}
	unreachable := answering{err: caddyhttp.Error(http.StatusBadGateway, errors.New("refused"))}
	const webURL = "https://gitlab.example.com/group/project/-/pipelines/4242"
	type send struct {
		project string // default 9
		token   string // "unknown", or the trigger's token
		key     string // Idempotency-Key
	}
	cases := []struct {
		name    string
		next    answering
		revoke  bool
		sends   []send
		want    []tokenstore.Delivery // newest first; Time not compared
		explain bool                  // explain the request instead
	}{
		{name: "accepted", next: created, sends: []send{{}},
			want: []tokenstore.Delivery{{Source: "trigger", Ref: "main", Variables: []string{"API_KEY", "DEPLOY"},
				Outcome: "accepted", Status: 201, PipelineID: pipeline4242(), WebURL: webURL}}},
		{name: "replayed", next: created, sends: []send{{key: "k1"}, {key: "k1"}},
			want: []tokenstore.Delivery{
				{Source: "trigger", Ref: "main", Variables: []string{"API_KEY", "DEPLOY"}, Outcome: "replayed", Status: 201, PipelineID: pipeline4242(), WebURL: webURL},
				{Source: "trigger", Ref: "main", Variables: []string{"API_KEY", "DEPLOY"}, Outcome: "accepted", Status: 201, PipelineID: pipeline4242(), WebURL: webURL},
			}},
		{name: "unreachable CI", next: unreachable, sends: []send{{}},
			want: []tokenstore.Delivery{{Source: "trigger", Ref: "main", Variables: []string{"API_KEY", "DEPLOY"}, Outcome: "accepted", Status: 502}}},
		{name: "another project's token", next: created, sends: []send{{project: "10"}},
			want: []tokenstore.Delivery{{Source: "trigger", Variables: []string{"API_KEY", "DEPLOY"}, Outcome: "wrong_project"}}},
		{name: "revoked", next: created, revoke: true, sends: []send{{}},
			want: []tokenstore.Delivery{{Source: "trigger", Variables: []string{"API_KEY", "DEPLOY"}, Outcome: "revoked_token"}}},
		{name: "unknown token: no trigger", next: created, sends: []send{{token: "unknown"}}},
		{name: "explain records nothing", next: created, sends: []send{{}}, explain: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := provisionHandler(t, &Handler{}, "")
			trigger, token := createToken(t, h, "9", "alice")
			if tc.revoke {
				if err := h.gateway.store.Revoke(context.Background(), trigger.ID, "test"); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range tc.sends {
				tok := token
				if s.token == "unknown" {
					tok = "glptt-0000000000000000000000000000000000000000"
				}
				body := `{"token":"` + tok + `","ref":"main","variables":{"DEPLOY":"` + deliverySecret + `","API_KEY":"` + deliverySecret + `"}}`
				target := "/api/v4/projects/" + cmp.Or(s.project, "9") + "/trigger/pipeline"
				r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				if s.key != "" {
					r.Header.Set("Idempotency-Key", s.key)
				}
				if tc.explain {
					route, _ := triggerapi.ParseRoute(h.PathPrefix, r.URL.EscapedPath())
					_ = h.explain(r, route)
					continue
				}
				_, _, _ = serve(h, r, tc.next)
			}
			got, err := h.gateway.store.Deliveries(context.Background(), trigger.ID)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(got)
			if strings.Contains(string(raw), deliverySecret) {
				t.Fatalf("a delivery holds a variable value: %s", raw)
			}
			for i := range got {
				if got[i].Time.IsZero() {
					t.Errorf("delivery %d has no time", i)
				}
				got[i].Time = time.Time{}
			}
			want := tc.want
			if want == nil {
				want = []tokenstore.Delivery{}
			}
			if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
				t.Fatalf("deliveries\n got %s\nwant %s", g, w)
			}
		})
	}
}

func pipeline4242() *int64 {
	id := int64(4242)
	return &id
}

func TestAdminDeliveries(t *testing.T) {
	c, _ := newAdminClient(t, nil)
	tr, token := mustCreate(t, c, `{"project":"9","description":"a","owner":"alice"}`)
	mustCreate(t, c, `{"project":"9","description":"b","owner":"bob"}`) // trigger 2: no deliveries
	base := time.Now().UTC().Truncate(time.Second)
	c.g.store.RecordDelivery(tr.ID, tokenstore.Delivery{Time: base, Source: "trigger", Ref: "main", Outcome: "accepted",
		Variables: []string{"DEPLOY"}, Status: 201, PipelineID: pipeline4242(), WebURL: "https://ci.example.com/p/4242"})
	c.g.store.RecordDelivery(tr.ID, tokenstore.Delivery{Time: base.Add(time.Second), Source: "trigger", Ref: "dev", Outcome: "ref_not_allowed"})
	if err := c.g.store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.g.store.RecordDelivery(tr.ID, tokenstore.Delivery{Time: base.Add(2 * time.Second), Source: "trigger", Ref: "main", Outcome: "replayed", Status: 201})

	tests := []struct {
		name     string
		target   string
		revoke   bool
		status   int
		outcomes []string
		errHas   string
	}{
		{name: "newest first", target: "/trigger_gateway/triggers/1/deliveries", status: 200, outcomes: []string{"replayed", "ref_not_allowed", "accepted"}},
		{name: "none yet", target: "/trigger_gateway/triggers/2/deliveries", status: 200, outcomes: []string{}},
		{name: "unknown trigger", target: "/trigger_gateway/triggers/99/deliveries", status: 404, errHas: "trigger 99 not found"},
		{name: "revoked trigger", target: "/trigger_gateway/triggers/1/deliveries", revoke: true, status: 200, outcomes: []string{"replayed", "ref_not_allowed", "accepted"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.revoke {
				if rec := c.do(http.MethodDelete, "/trigger_gateway/triggers/1", ""); rec.Code != http.StatusNoContent {
					t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
				}
			}
			rec := c.do(http.MethodGet, tc.target, "")
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			assertNoSecret(t, "deliveries", rec.Body.String(), token)
			if tc.errHas != "" {
				if msg := errorMessage(t, rec); !strings.Contains(msg, tc.errHas) {
					t.Fatalf("error %q, want %q", msg, tc.errHas)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var list []map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || list == nil {
				t.Fatalf("body %s is not a JSON array: %v", rec.Body, err)
			}
			got := []string{}
			for _, d := range list {
				got = append(got, d["outcome"].(string))
				for _, k := range []string{"time", "source", "variables", "outcome", "pipeline_id"} {
					if _, ok := d[k]; !ok {
						t.Errorf("delivery lacks %q: %v", k, d)
					}
				}
			}
			if mustJSON(t, got) != mustJSON(t, tc.outcomes) {
				t.Fatalf("outcomes %v, want %v", got, tc.outcomes)
			}
			if len(list) == 3 && (list[2]["pipeline_id"] != float64(4242) || list[2]["web_url"] != "https://ci.example.com/p/4242" || list[0]["pipeline_id"] != nil) {
				t.Errorf("pipelines: %v", list)
			}
		})
	}
}

func TestWriteDeliveries(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		list []tokenstore.Delivery
		want []string
	}{
		{name: "none", want: []string{"No deliveries yet."}},
		{name: "some", list: []tokenstore.Delivery{
			{Time: now.Add(time.Second), Source: "trigger", Ref: "main", Variables: []string{"A", "B\tC"}, Outcome: "accepted", Status: 201,
				PipelineID: pipeline4242(), WebURL: "https://ci.example.com/p/4242"},
			{Time: now, Source: "trigger", Outcome: "revoked_token", Variables: []string{}},
		}, want: []string{
			"Recent deliveries (newest first, last 20 kept):",
			"TIME", "SOURCE", "REF", "VARIABLES", "OUTCOME", "STATUS", "PIPELINE",
			"2025-06-01 12:00:01 UTC", "A,B C", "accepted", "201", "4242 https://ci.example.com/p/4242",
			"2025-06-01 12:00:00 UTC  trigger  -", "revoked_token",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if err := writeDeliveries(&out, tc.list, now); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "\t") {
				t.Errorf("a tab survived:\n%q", out.String())
			}
		})
	}
}

func TestWithMember(t *testing.T) {
	tests := []struct {
		raw, want string
		fails     bool
	}{
		{raw: `{"id":1,"b":2}`, want: `{"id":1,"b":2,"deliveries":[]}`},
		{raw: " {}\n", want: `{"deliveries":[]}`},
		{raw: `[1]`, fails: true},
		{raw: `{"id":`, fails: true},
	}
	for _, tc := range tests {
		got, err := withMember([]byte(tc.raw), "deliveries", []byte(`[]`))
		if (err != nil) != tc.fails || string(got) != tc.want {
			t.Errorf("withMember(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
}
