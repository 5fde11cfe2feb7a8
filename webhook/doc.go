// Package webhook verifies that a webhook delivery comes from the forge that
// was given the project's secret, before the gateway lets it trigger
// anything.
//
// Two schemes are understood:
//
//   - GitLab sends the webhook's secret token as it is, in the header
//     X-Gitlab-Token.
//   - GitHub signs the raw request body: X-Hub-Signature-256 holds
//     "sha256=" followed by the hex HMAC-SHA256 of the body keyed with the
//     webhook's secret. The older SHA-1 header X-Hub-Signature is not
//     accepted.
//
// Comparisons take constant time, and errors carry only a bounded reason: no
// secret, header value or body ever appears in an error message.
//
// The package is plain Go and knows nothing of Caddy.
package webhook
