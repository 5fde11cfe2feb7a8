package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
)

const (
	testToken  = "gitlab-secret-token-5d1f"
	testSecret = "github-secret-9a7c"
)

var testBody = []byte(`{"object_kind":"push","ref":"refs/heads/main"}`)

// sign computes GitHub's X-Hub-Signature-256 value for body.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// headers builds a header from name/value pairs, keeping repeated names.
func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestCheck(t *testing.T) {
	gitlab := &Verifier{GitLabToken: testToken}
	github := &Verifier{GitHubSecret: testSecret}
	both := &Verifier{GitLabToken: testToken, GitHubSecret: testSecret}
	good := sign(testSecret, testBody)

	tests := []struct {
		name   string
		v      *Verifier
		header http.Header
		body   []byte
		reason string // "" = accepted
	}{
		// GitLab shared token.
		{"gitlab ok", gitlab, headers("X-Gitlab-Token", testToken), testBody, ""},
		{"gitlab header added lower-case", gitlab, headers("x-gitlab-token", testToken), testBody, ""},
		{"gitlab ok with empty body", gitlab, headers("X-Gitlab-Token", testToken), nil, ""},
		{"gitlab wrong token", gitlab, headers("X-Gitlab-Token", testToken+"x"), testBody, ReasonBadToken},
		{"gitlab prefix of token", gitlab, headers("X-Gitlab-Token", testToken[:8]), testBody, ReasonBadToken},
		{"gitlab case differs", gitlab, headers("X-Gitlab-Token", strings.ToUpper(testToken)), testBody, ReasonBadToken},
		{"gitlab missing", gitlab, headers(), testBody, ReasonMissingSignature},
		{"gitlab empty value", gitlab, headers("X-Gitlab-Token", ""), testBody, ReasonMissingSignature},
		{"gitlab repeated header", gitlab, headers("X-Gitlab-Token", testToken, "X-Gitlab-Token", testToken), testBody, ReasonBadToken},
		{"gitlab ignores github header", gitlab, headers("X-Hub-Signature-256", good), testBody, ReasonMissingSignature},

		// GitHub HMAC signature.
		{"github ok", github, headers("X-Hub-Signature-256", good), testBody, ""},
		{"github upper-case hex", github, headers("X-Hub-Signature-256", "sha256="+strings.ToUpper(good[7:])), testBody, ""},
		{"github empty body", github, headers("X-Hub-Signature-256", sign(testSecret, nil)), nil, ""},
		{"github empty body signed as non-empty", github, headers("X-Hub-Signature-256", good), nil, ReasonBadSignature},
		{"github body changed", github, headers("X-Hub-Signature-256", good), append([]byte(" "), testBody...), ReasonBadSignature},
		{"github other secret", github, headers("X-Hub-Signature-256", sign("other", testBody)), testBody, ReasonBadSignature},
		{"github upper-case prefix", github, headers("X-Hub-Signature-256", "SHA256="+good[7:]), testBody, ReasonBadSignature},
		{"github no prefix", github, headers("X-Hub-Signature-256", good[7:]), testBody, ReasonBadSignature},
		{"github sha1 prefix", github, headers("X-Hub-Signature-256", "sha1="+good[7:]), testBody, ReasonBadSignature},
		{"github too short", github, headers("X-Hub-Signature-256", good[:len(good)-2]), testBody, ReasonBadSignature},
		{"github too long", github, headers("X-Hub-Signature-256", good+"00"), testBody, ReasonBadSignature},
		{"github odd length", github, headers("X-Hub-Signature-256", good+"0"), testBody, ReasonBadSignature},
		{"github not hex", github, headers("X-Hub-Signature-256", good[:len(good)-1]+"g"), testBody, ReasonBadSignature},
		{"github trailing space", github, headers("X-Hub-Signature-256", good+" "), testBody, ReasonBadSignature},
		{"github repeated header", github, headers("X-Hub-Signature-256", good, "X-Hub-Signature-256", good), testBody, ReasonBadSignature},
		{"github missing", github, headers(), testBody, ReasonMissingSignature},
		{"github sha1 header only", github, headers("X-Hub-Signature", "sha1=00"), testBody, ReasonMissingSignature},
		{"github ignores gitlab header", github, headers("X-Gitlab-Token", testSecret), testBody, ReasonMissingSignature},

		// Both configured: either check passing is enough.
		{"both gitlab ok", both, headers("X-Gitlab-Token", testToken), testBody, ""},
		{"both github ok", both, headers("X-Hub-Signature-256", good), testBody, ""},
		{"both bad token good signature", both, headers("X-Gitlab-Token", "nope", "X-Hub-Signature-256", good), testBody, ""},
		{"both good token bad signature", both, headers("X-Gitlab-Token", testToken, "X-Hub-Signature-256", "sha256=00"), testBody, ""},
		{"both bad", both, headers("X-Gitlab-Token", "nope", "X-Hub-Signature-256", sign("other", testBody)), testBody, ReasonBadSignature},
		{"both only bad token", both, headers("X-Gitlab-Token", "nope"), testBody, ReasonBadToken},
		{"both missing", both, headers("Content-Type", "application/json"), testBody, ReasonMissingSignature},

		// Nothing configured refuses everything.
		{"zero verifier", &Verifier{}, headers("X-Gitlab-Token", ""), testBody, ReasonNotConfigured},
		{"zero verifier with headers", &Verifier{}, headers("X-Gitlab-Token", "x", "X-Hub-Signature-256", good), testBody, ReasonNotConfigured},
		{"nil verifier", nil, headers("X-Gitlab-Token", testToken), testBody, ReasonNotConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Check(tt.header, tt.body)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want accepted", err)
				}
				return
			}
			var werr *Error
			if !errors.As(err, &werr) {
				t.Fatalf("Check() = %v, want *Error with reason %q", err, tt.reason)
			}
			if werr.Reason != tt.reason {
				t.Fatalf("reason = %q, want %q", werr.Reason, tt.reason)
			}
		})
	}
}

// TestErrorLeaksNothing makes sure refusals carry neither secret, nor the
// presented header values, nor the body.
func TestErrorLeaksNothing(t *testing.T) {
	v := &Verifier{GitLabToken: testToken, GitHubSecret: testSecret}
	presentedToken := "presented-token-3e8b"
	presentedSig := sign("presented", testBody)
	err := v.Check(headers("X-Gitlab-Token", presentedToken, "X-Hub-Signature-256", presentedSig), testBody)
	if err == nil {
		t.Fatal("Check() accepted a bad delivery")
	}
	msg := err.Error()
	for _, secret := range []string{testToken, testSecret, presentedToken, presentedSig, presentedSig[7:], string(testBody)} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q contains %q", msg, secret)
		}
	}
	if want := "webhook refused: " + ReasonBadSignature; msg != want {
		t.Errorf("error = %q, want %q", msg, want)
	}
}

func TestReasonsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons {
		if r == "" || seen[r] {
			t.Fatalf("Reasons has an empty or repeated entry %q", r)
		}
		seen[r] = true
	}
	for _, r := range []string{ReasonMissingSignature, ReasonBadSignature, ReasonBadToken, ReasonNotConfigured} {
		if !seen[r] {
			t.Errorf("Reasons lacks %q", r)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	body := []byte(strings.Repeat(`{"k":"v"},`, 400)) // ~4 KiB, a typical push payload
	v := &Verifier{GitLabToken: testToken, GitHubSecret: testSecret}
	cases := []struct {
		name   string
		header http.Header
		hashes bool // whether the body is hashed
	}{
		{"gitlab_token", headers("X-Gitlab-Token", testToken), false},
		{"github_hmac_4KiB", headers("X-Hub-Signature-256", sign(testSecret, body)), true},
		{"refused_missing", headers(), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			if c.hashes {
				b.SetBytes(int64(len(body)))
			}
			for b.Loop() {
				_ = v.Check(c.header, body)
			}
		})
	}
}

func TestCarriesEvent(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   bool
	}{
		{"none", headers("Content-Type", "application/json"), false},
		{"empty header", http.Header{}, false},
		{"gitlab", headers("X-Gitlab-Event", "Push Hook"), true},
		{"github as GitHub spells it", headers("X-GitHub-Event", "push"), true},
		{"gitea", headers("X-Gitea-Event", "push"), true},
		{"forgejo", headers("X-Forgejo-Event", "push"), true},
		{"gogs", headers("X-Gogs-Event", "push"), true},
		{"lower-case name", headers("x-gitlab-event", "Push Hook"), true},
		{"empty value still says webhook", headers("X-Gitlab-Event", ""), true},
		{"delivery ID alone is no event", headers("X-GitHub-Delivery", "d1", "X-Gitlab-Event-UUID", "u1"), false},
		{"secret alone is no event", headers("X-Gitlab-Token", testToken), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CarriesEvent(tt.header); got != tt.want {
				t.Errorf("CarriesEvent() = %t, want %t", got, tt.want)
			}
		})
	}
}
