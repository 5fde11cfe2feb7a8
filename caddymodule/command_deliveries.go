package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/tokenstore"
	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// deliveryTimeLayout shows deliveries to the second: several uses often
// fall in one minute.
const deliveryTimeLayout = "2006-01-02 15:04:05 MST"

// writeDeliveries prints a trigger's recent deliveries, newest first, as
// 'caddy trigger show' shows them under the trigger: variable names only,
// as the admin API gives them.
func writeDeliveries(w io.Writer, list []tokenstore.Delivery, now time.Time) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "\nNo deliveries yet.")
		return err
	}
	if _, err := fmt.Fprintf(w, "\nRecent deliveries (newest first, last %d kept):\n", tokenstore.MaxDeliveries); err != nil {
		return err
	}
	rows := [][]string{{"TIME", "SOURCE", "REF", "VARIABLES", "OUTCOME", "STATUS", "PIPELINE"}}
	for _, d := range list {
		status := "-"
		if d.Status != 0 {
			status = strconv.Itoa(d.Status)
		}
		pipeline := "-"
		if d.PipelineID != nil {
			pipeline = strconv.FormatInt(*d.PipelineID, 10)
			if d.WebURL != "" {
				pipeline += " " + cellText(d.WebURL, triggerapi.MaxPipelineWebURL)
			}
		}
		variables := "-"
		if len(d.Variables) > 0 {
			variables = cellText(strings.Join(d.Variables, ","), descriptionWidth)
		}
		rows = append(rows, []string{
			d.Time.In(now.Location()).Format(deliveryTimeLayout),
			cellText(orText(d.Source, "-"), descriptionWidth),
			cellText(orText(d.Ref, "-"), descriptionWidth),
			variables,
			cellText(orText(d.Outcome, "-"), descriptionWidth),
			status,
			pipeline,
		})
	}
	return writeTable(w, rows)
}

// withMember adds a member to the JSON object raw, after its own members,
// which keep their order and form.
func withMember(raw []byte, name string, value []byte) ([]byte, error) {
	object := bytes.TrimSpace(raw)
	if len(object) < 2 || object[0] != '{' || object[len(object)-1] != '}' || !json.Valid(object) || !json.Valid(value) {
		return nil, errors.New("the admin API's answer is not a JSON object")
	}
	key, _ := json.Marshal(name)
	var out bytes.Buffer
	out.Write(object[:len(object)-1])
	if len(bytes.TrimSpace(object[1:len(object)-1])) > 0 {
		out.WriteByte(',')
	}
	out.Write(key)
	out.WriteByte(':')
	out.Write(value)
	out.WriteByte('}')
	return out.Bytes(), nil
}
