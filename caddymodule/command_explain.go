package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// explainCommand is `caddy trigger explain`: a dry run of the gateway's
// decision on a request, through the admin API.
func explainCommand() *cobra.Command {
	explain := &cobra.Command{
		Use:   "explain --url <path?query> [--method POST] [--header 'Name: value']... [--data <body>|@file]",
		Short: "Shows what the gateway would decide for a request, without sending it",
		Long: `
Asks the running gateway what it would do with a trigger request: accept it
or refuse it (with the status, the reason and the answer the caller would
get), the rules it applied, and the canonical request it would forward to
the CI server, with the token shown by its prefix only. Nothing is forwarded
and no usage is counted.

	caddy trigger explain --url '/api/v4/projects/9/trigger/pipeline?ref=main&token=glptt-...'
	caddy trigger explain --url /api/v4/projects/9/trigger/pipeline \
		--header 'Content-Type: application/json' \
		--data '{"token":"glptt-...","ref":"main","variables":{"DEPLOY":"staging"}}'`,
		Args: cobra.NoArgs,
		RunE: triggerRunE(cmdTriggerExplain),
	}
	explain.Flags().String("url", "", "Request path and query, like /api/v4/projects/9/trigger/pipeline?ref=main (required)")
	explain.Flags().String("method", http.MethodPost, "Request method")
	explain.Flags().StringArray("header", nil, "Request header 'Name: value' (repeatable)")
	explain.Flags().String("data", "", "Request body, or @file to read it from a file")
	return explain
}

func cmdTriggerExplain(cl *triggerClient, fl caddycmd.Flags, _ []string) error {
	req, err := explainRequestFromFlags(fl)
	if err != nil {
		return err
	}
	raw, err := cl.request(http.MethodPost, adminEndpointBase+"explain", nil, req)
	if err != nil {
		return err
	}
	if cl.asJSON {
		return printIndentedJSON(cl.out, raw)
	}
	var e explanation
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("decoding the admin API's answer: %v", err)
	}
	return writeExplanation(cl, e)
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
	return req, nil
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
	if f := e.Forward; f != nil {
		fmt.Fprintf(&b, "Would forward: %s %s\n", f.Method, f.URL)
		for name, value := range f.Headers {
			if strings.HasPrefix(name, headerPrefix) || name == "Content-Type" {
				fmt.Fprintf(&b, "  %s: %s\n", name, value)
			}
		}
		if len(f.Body) > 0 {
			fmt.Fprintf(&b, "  %s\n", f.Body)
		}
	}
	_, err := fmt.Fprint(cl.out, b.String())
	return err
}
