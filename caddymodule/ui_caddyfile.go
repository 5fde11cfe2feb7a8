package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("trigger_gateway_ui", parseUICaddyfile)
	// The page answers its requests itself, like respond; it comes before
	// trigger_gateway, which answers 404 to anything but the trigger API,
	// so that one site can hold both without a global `order` option.
	httpcaddyfile.RegisterDirectiveOrder("trigger_gateway_ui", httpcaddyfile.After, "respond")
}

func parseUICaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(UIHandler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	trigger_gateway_ui [<matcher>] {
//		maintainers <user...>
//		allow_anonymous
//		gateway_url <url>
//		storage <module> [<args...>] [{ ... }]
//	}
func (h *UIHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "maintainers":
			users := d.RemainingArgs()
			if len(users) == 0 {
				return d.ArgErr()
			}
			h.Maintainers = append(h.Maintainers, users...)
		case "allow_anonymous":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.AllowAnonymous = true
		case "gateway_url":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.GatewayURL = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "storage":
			if h.StorageRaw != nil {
				return d.Err("storage is given twice")
			}
			raw, err := storageArg(d)
			if err != nil {
				return err
			}
			h.StorageRaw = raw
		default:
			return d.Errf("unrecognized trigger_gateway_ui subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*UIHandler)(nil)
