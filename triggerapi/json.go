package triggerapi

import (
	"encoding/json"
)

// parseJSON reads a JSON object body. token and ref must be strings,
// variables a map of strings, inputs a map of any JSON values; every other
// field is kept as the webhook payload.
func (p *params) parseJSON(body []byte) *Error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return ErrBadBody
	}
	for name, raw := range fields {
		switch name {
		case "token":
			p.token = jsonScalar(raw)
		case "ref":
			p.ref = jsonScalar(raw)
		case "variables":
			if isJSONNull(raw) {
				continue // an optional parameter sent as null is absent
			}
			var vars map[string]any
			if json.Unmarshal(raw, &vars) != nil {
				p.badVars = true
				continue
			}
			for key, value := range vars {
				s, ok := value.(string)
				if !ok {
					p.badVars = true
					break
				}
				if p.variables == nil {
					p.variables = make(map[string]string, len(vars))
				}
				p.variables[key] = s
			}
		case "inputs":
			if isJSONNull(raw) {
				continue
			}
			var inputs map[string]json.RawMessage
			if json.Unmarshal(raw, &inputs) != nil {
				p.badIns = true
				continue
			}
			for key, value := range inputs {
				if p.inputs == nil {
					p.inputs = make(map[string]json.RawMessage, len(inputs))
				}
				p.inputs[key] = value
			}
		default:
			if p.payload == nil {
				p.payload = make(map[string]json.RawMessage)
			}
			p.payload[name] = raw
		}
	}
	return nil
}

func jsonScalar(raw json.RawMessage) field {
	if isJSONNull(raw) {
		return field{} // null is as good as absent
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return field{set: true, invalid: true}
	}
	return field{value: s, set: true}
}

func isJSONNull(raw json.RawMessage) bool {
	return string(raw) == "null"
}
