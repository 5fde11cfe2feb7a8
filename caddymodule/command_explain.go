package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// explainCommand is `caddy trigger explain`: a dry run of the gateway's
// decision on a request, through the admin API.
func explainCommand() *cobra.Command {
	explain := &cobra.Command{
		Use:   "explain --url <path?query> [--method POST] [--header 'Name: value']... [--form key=value... | --data <body>|@file]",
		Short: "Shows what the gateway would decide for a request, without sending it",
		Long: `
Asks the running gateway what it would do with a trigger request: accept it
or refuse it (with the status, the reason and the answer the caller would
get), the rules it applied, and the canonical request it would forward to
the CI server, with the token shown by its prefix only. Nothing is forwarded
and no usage is counted. The exit status is 0 when the request would be
accepted, 1 when it would be refused (or the explanation failed).

With several sites serving trigger API requests, --url names the site as
callers do, https://ci.example.com/api/v4/..., and the explanation follows
that site's rules.

--form key=value (repeatable) builds a multipart/form-data body as curl's
--form does, so a curl command line carries over as it is; --data sends a
body as it is, with the Content-Type given by --header.

	caddy trigger explain --url /api/v4/projects/9/trigger/pipeline \
		--form token=glptt-... --form ref=main --form "variables[DEPLOY]=staging"
	caddy trigger explain --url '/api/v4/projects/9/trigger/pipeline?ref=main&token=glptt-...'
	caddy trigger explain --url /api/v4/projects/9/trigger/pipeline \
		--header 'Content-Type: application/json' \
		--data '{"token":"glptt-...","ref":"main","variables":{"DEPLOY":"staging"}}'`,
		Args: cobra.NoArgs,
		RunE: triggerRunE(cmdTriggerExplain),
	}
	explain.Flags().String("url", "", "Request path and query, like /api/v4/projects/9/trigger/pipeline?ref=main, or the whole URL to name the site when several serve the path (required)")
	explain.Flags().String("method", http.MethodPost, "Request method")
	explain.Flags().StringArray("header", nil, "Request header 'Name: value' (repeatable)")
	explain.Flags().String("data", "", "Request body, or @file to read it from a file")
	explain.Flags().StringArray("form", nil, "Form field key=value of a multipart/form-data body, as curl's --form (repeatable)")
	return explain
}

func cmdTriggerExplain(cl *triggerClient, fl caddycmd.Flags, _ []string) error {
	req, err := explainRequestFromFlags(fl)
	if err != nil {
		return err
	}
	raw, err := cl.request(http.MethodPost, adminEndpointBase+"explain", nil, req, http.StatusOK)
	if err != nil {
		return err
	}
	var e explanation
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("decoding the admin API's answer: %v", err)
	}
	if cl.asJSON {
		err = printIndentedJSON(cl.out, raw)
	} else {
		err = writeExplanation(cl, e)
	}
	if err == nil && e.Decision != "accepted" {
		return errQuietFailure // the output says why
	}
	return err
}

func explainRequestFromFlags(fl caddycmd.Flags) (explainRequest, error) {
	req := explainRequest{
		Method:  strings.ToUpper(strings.TrimSpace(fl.String("method"))),
		URL:     strings.TrimSpace(fl.String("url")),
		Headers: map[string]string{},
	}
	if req.URL == "" {
		return req, errors.New("--url is required: the request's path and query, like /api/v4/projects/9/trigger/pipeline?ref=main")
	}
	headers, _ := fl.GetStringArray("header")
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return req, fmt.Errorf("--header must be 'Name: value', got %q", h)
		}
		req.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	data := fl.String("data")
	if file, ok := strings.CutPrefix(data, "@"); ok {
		body, err := os.ReadFile(file)
		if err != nil {
			return req, fmt.Errorf("--data: %v", err)
		}
		data = string(body)
	}
	req.Body = data
	fields, _ := fl.GetStringArray("form")
	if len(fields) == 0 {
		return req, nil
	}
	if fl.Changed("data") {
		return req, errors.New("--form and --data cannot be combined: --form builds the body")
	}
	for name := range req.Headers {
		if strings.EqualFold(name, "Content-Type") {
			return req, errors.New("--form sets the Content-Type itself (multipart/form-data with its boundary): drop the Content-Type --header")
		}
	}
	contentType, body, err := multipartForm(fields)
	if err != nil {
		return req, err
	}
	req.Headers["Content-Type"], req.Body = contentType, body
	return req, nil
}

// multipartForm builds the multipart/form-data body of --form fields
// ("key=value") as curl --form does, and its Content-Type. Values are
// sent as they are: curl's @file and <file are not supported, and a value
// starting with @ or < is refused rather than sent differently from curl.
func multipartForm(fields []string) (contentType, body string, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, field := range fields {
		name, value, ok := strings.Cut(field, "=")
		switch {
		case !ok || name == "":
			return "", "", fmt.Errorf("--form must be key=value, like --form ref=main, got a field without %s", missingFormPart(ok))
		case strings.HasPrefix(value, "@"), strings.HasPrefix(value, "<"):
			return "", "", fmt.Errorf("--form %s: reading a value from a file (@file, <file) is not supported; give the value itself", name)
		}
		if err := w.WriteField(name, value); err != nil {
			return "", "", fmt.Errorf("--form %s: %v", name, err)
		}
	}
	if err := w.Close(); err != nil {
		return "", "", err
	}
	return w.FormDataContentType(), buf.String(), nil
}

// missingFormPart names what a malformed --form field lacks; the field
// is not echoed, since it may hold a token.
func missingFormPart(hasEquals bool) string {
	if hasEquals {
		return "a key"
	}
	return "'='"
}

// writeExplanation prints an explanation for people.
func writeExplanation(cl *triggerClient, e explanation) error {
	var b strings.Builder
	if e.Decision == "refused" {
		fmt.Fprintf(&b, "Refused: %d (%s)\n", e.Status, e.Reason)
		if e.Detail != "" {
			fmt.Fprintf(&b, "Why:     %s\n", e.Detail)
		}
		fmt.Fprintf(&b, "Answer:  %s\n", e.Answer)
	} else {
		fmt.Fprintf(&b, "Accepted: %s trigger of project %s on %s (source %s)\n", e.Route, e.Project, e.Ref, e.Source)
	}
	if len(e.Rules) > 0 {
		b.WriteString("Rules applied:\n")
		for _, rule := range e.Rules {
			fmt.Fprintf(&b, "  - %s\n", cellText(rule, 200))
		}
	}
	ci := e.Upstream != "" && e.Upstream != defaultUpstream
	if ci {
		fmt.Fprintf(&b, "Upstream: %s (the CI server's own API)\n", e.Upstream)
	}
	if e.Replayed {
		fmt.Fprintf(&b, "Would replay: the first answer to this key (%d); nothing forwarded\n", e.Status)
	}
	if f := e.Forward; f != nil {
		fmt.Fprintf(&b, "Would forward: %s %s\n", f.Method, f.URL)
		// Another CI's request is the module's: every header of it is worth
		// seeing (its credentials come masked). GitLab's carries the
		// caller's headers as they came: only the gateway's own are shown.
		for _, name := range slices.Sorted(maps.Keys(f.Headers)) {
			if ci || strings.HasPrefix(name, headerPrefix) || name == "Content-Type" {
				fmt.Fprintf(&b, "  %s: %s\n", name, f.Headers[name])
			}
		}
		if len(f.Body) > 0 {
			fmt.Fprintf(&b, "  %s\n", f.Body)
		}
	}
	_, err := fmt.Fprint(cl.out, b.String())
	return err
}
