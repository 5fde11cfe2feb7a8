package webhook

// Refusal reasons carried by [Error.Reason]. The set is bounded so that a
// reason can be used as a metric label.
const (
	// ReasonMissingSignature: the request carries none of the headers of
	// the configured schemes (or only empty ones).
	ReasonMissingSignature = "missing_signature"
	// ReasonBadSignature: X-Hub-Signature-256 is malformed or does not
	// match the body.
	ReasonBadSignature = "bad_signature"
	// ReasonBadToken: X-Gitlab-Token does not match the secret token.
	ReasonBadToken = "bad_token"
	// ReasonNotConfigured: the Verifier has no secret at all, so it can
	// verify nothing and refuses everything.
	ReasonNotConfigured = "not_configured"
)

// Reasons lists every value [Error.Reason] can take, for pre-registering
// metric label values.
var Reasons = []string{ReasonMissingSignature, ReasonBadSignature, ReasonBadToken, ReasonNotConfigured}

// Error is the refusal of a webhook delivery. It holds only a reason: never
// the secret, the header value or the body.
type Error struct {
	// Reason is one of the Reason* constants.
	Reason string
}

// Error implements error.
func (e *Error) Error() string { return "webhook refused: " + e.Reason }

func refuse(reason string) *Error { return &Error{Reason: reason} }
