package triggerapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

func TestErrorBodies(t *testing.T) {
	tests := []struct {
		name   string
		err    *triggerapi.Error
		status int
		reason string
		body   string
	}{
		{"ErrTokenMissing", triggerapi.ErrTokenMissing, 400, "missing_token", bodyTokenMissing},
		{"ErrRefMissing", triggerapi.ErrRefMissing, 400, "missing_ref", bodyRefMissing},
		{"ErrRefAndTokenMissing", triggerapi.ErrRefAndTokenMissing, 400, "missing_ref", bodyRefAndTokenMissing},
		{"ErrRefEmpty", triggerapi.ErrRefEmpty, 400, "missing_ref", bodyRefEmpty},
		{"ErrTokenInvalid", triggerapi.ErrTokenInvalid, 400, "invalid_token_param", bodyTokenInvalid},
		{"ErrRefInvalidParam", triggerapi.ErrRefInvalidParam, 400, "invalid_ref", bodyRefInvalid},
		{"ErrVariablesShape", triggerapi.ErrVariablesShape, 400, "invalid_variables", bodyVariablesShape},
		{"ErrInputsShape", triggerapi.ErrInputsShape, 400, "invalid_inputs", bodyInputsShape},
		{"ErrNotFound", triggerapi.ErrNotFound, 404, "not_found", `{"message":"404 Not Found"}`},
		{"ErrPipelineHook", triggerapi.ErrPipelineHook, 403, "pipeline_hook", `{"message":"403 Forbidden"}`},
		{"ErrBodyTooLarge", triggerapi.ErrBodyTooLarge, 413, "body_too_large", `{"message":"413 Request Entity Too Large"}`},
		{"ErrBodyTimeout", triggerapi.ErrBodyTimeout, 408, "body_timeout", `{"message":"408 Request Timeout"}`},
		{"ErrBadBody", triggerapi.ErrBadBody, 400, "malformed_body", bodyBadBody},
		{"ErrMediaType", triggerapi.ErrMediaType, 415, "unsupported_media_type", bodyMediaType},
		{"ErrMethod", triggerapi.ErrMethod, 405, "method_not_allowed", `{"message":"405 Method Not Allowed"}`},
		{"ErrUnavailable", triggerapi.ErrUnavailable, 503, "storage_unavailable", `{"message":"503 Service Unavailable"}`},
		{"ErrCommitSHA", triggerapi.ErrCommitSHA, 400, "commit_sha_ref",
			`{"message":{"base":["Reference not found: only branches and tags can be triggered, not a commit SHA"]}}`},
		{"ErrRefFormat", triggerapi.ErrRefFormat, 400, "invalid_ref",
			`{"message":{"base":["Reference not found: not a valid branch or tag name"]}}`},
		{"MessageError", triggerapi.MessageError(http.StatusBadRequest, "protected_variable", `CI_X is "protected"`),
			400, "protected_variable", `{"message":"CI_X is \"protected\""}`},
		{"PipelineError", triggerapi.PipelineError("r", "a <b> & c"), 400, "r",
			`{"message":{"base":["a \u003cb\u003e \u0026 c"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err.Status != tt.status || tt.err.Reason != tt.reason || string(tt.err.Body) != tt.body {
				t.Errorf("got %d %q %s; want %d %q %s", tt.err.Status, tt.err.Reason, tt.err.Body, tt.status, tt.reason, tt.body)
			}
			if !json.Valid(tt.err.Body) {
				t.Errorf("body is not JSON: %s", tt.err.Body)
			}
			msg := tt.err.Error()
			if !strings.Contains(msg, tt.reason) || !strings.Contains(msg, http.StatusText(tt.status)) {
				t.Errorf("Error() = %q, want the reason and status text", msg)
			}
		})
	}
}

// TestErrorMessageHoldsNoInput checks that Error() carries only the reason:
// a message passed to MessageError (which may name a variable) stays in the body.
func TestErrorMessageHoldsNoInput(t *testing.T) {
	err := triggerapi.MessageError(http.StatusBadRequest, "protected_variable", "CI_SECRET_NAME is protected")
	if got := err.Error(); strings.Contains(got, "CI_SECRET_NAME") {
		t.Errorf("Error() = %q holds the message", got)
	}
	if got, want := err.Error(), "trigger refused: protected_variable (Bad Request)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestWithReason(t *testing.T) {
	for _, base := range []*triggerapi.Error{triggerapi.ErrNotFound, triggerapi.ErrTokenMissing, triggerapi.ErrCommitSHA} {
		origReason, origBody := base.Reason, string(base.Body)
		got := base.WithReason("expired_token")
		if got == base {
			t.Fatal("WithReason returned the same *Error")
		}
		if got.Reason != "expired_token" {
			t.Errorf("Reason = %q, want expired_token", got.Reason)
		}
		if got.Status != base.Status || string(got.Body) != string(base.Body) {
			t.Errorf("WithReason changed the answer: %d %s, want %d %s", got.Status, got.Body, base.Status, base.Body)
		}
		if base.Reason != origReason || string(base.Body) != origBody {
			t.Errorf("WithReason modified the original: %q %s", base.Reason, base.Body)
		}
	}
}
