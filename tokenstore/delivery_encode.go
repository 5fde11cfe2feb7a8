package tokenstore

import (
	"strconv"

	"github.com/triggergate/caddy-trigger-gateway/internal/jsontext"
)

// appendDeliveryRecord appends rec as encoding/json writes it, byte for
// byte, without reflection: encoding/json took half of a flush's work per
// trigger once the record is kept in memory (BenchmarkFlushManyDeliveries).
func appendDeliveryRecord(dst []byte, rec *deliveryRecord) ([]byte, error) {
	dst = append(dst, `{"instance":`...)
	dst = jsontext.AppendString(dst, rec.Instance)
	dst = append(dst, `,"trigger":`...)
	dst = strconv.AppendInt(dst, rec.Trigger, 10)
	dst = append(dst, `,"deliveries":`...)
	if rec.Deliveries == nil {
		return append(dst, "null}"...), nil
	}
	dst = append(dst, '[')
	var err error
	for i := range rec.Deliveries {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendDelivery(dst, &rec.Deliveries[i]); err != nil {
			return nil, err
		}
	}
	return append(dst, "]}"...), nil
}

// appendDelivery appends d as encoding/json writes a Delivery.
func appendDelivery(dst []byte, d *Delivery) ([]byte, error) {
	dst = append(dst, `{"time":`...)
	dst, err := jsontext.AppendTime(dst, d.Time)
	if err != nil {
		return nil, err
	}
	dst = append(dst, `,"source":`...)
	dst = jsontext.AppendString(dst, d.Source)
	if d.Ref != "" {
		dst = append(dst, `,"ref":`...)
		dst = jsontext.AppendString(dst, d.Ref)
	}
	dst = append(dst, `,"variables":`...)
	if d.Variables == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, name := range d.Variables {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsontext.AppendString(dst, name)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"outcome":`...)
	dst = jsontext.AppendString(dst, d.Outcome)
	if d.Status != 0 {
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(d.Status), 10)
	}
	dst = append(dst, `,"pipeline_id":`...)
	if d.PipelineID == nil {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, *d.PipelineID, 10)
	}
	if d.WebURL != "" {
		dst = append(dst, `,"web_url":`...)
		dst = jsontext.AppendString(dst, d.WebURL)
	}
	return append(dst, '}'), nil
}

// deliveryRecordSize is about the length of rec's JSON, to size the
// buffer it is appended to.
func deliveryRecordSize(rec *deliveryRecord) int {
	n := 64 + len(rec.Instance)
	for i := range rec.Deliveries {
		n += 128 + deliverySize(&rec.Deliveries[i])
	}
	return n
}
