package triggerui

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/triggergate/caddy-trigger-gateway/triggerapi"
)

// The orders the list can be sorted in.
const (
	sortLastUsed = "last_used" // most recently used first, never used last
	sortCreated  = "created"   // newest first
)

// listPage is the answer of GET api/triggers: one page of the sorted list.
type listPage struct {
	Triggers   []Trigger `json:"triggers"`
	Total      int       `json:"total"`
	Page       int       `json:"page"`
	PerPage    int       `json:"per_page"`
	TotalPages int       `json:"total_pages"`
}

// handleList answers one page of a project's triggers (?project=, every
// project without it), sorted (?sort=last_used, the default, or created),
// revoked ones instead with ?revoked=true; ?page= and ?per_page= (at most
// triggerapi.MaxPerPage) as GitLab's pagination. Only a page travels to
// the browser, so a project with thousands of triggers stays quick to show.
func (p *Page) handleList(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query()
	revoked, err := strconv.ParseBool(cmp.Or(query.Get("revoked"), "false"))
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Message: "400 Bad request - revoked must be true or false"}
	}
	order := cmp.Or(query.Get("sort"), sortLastUsed)
	if order != sortLastUsed && order != sortCreated {
		return &Error{Status: http.StatusBadRequest, Message: "400 Bad request - sort must be last_used or created"}
	}
	list, err := p.Backend.List(r, query.Get("project"), revoked)
	if err != nil {
		return err
	}
	sortTriggers(list, order)
	page := triggerapi.ParsePage(query, len(list))
	start, end := page.Bounds()
	shown := slices.Clone(list[start:end])
	now := time.Now()
	for i := range shown {
		shown[i].Token = "" // never listed, whatever a backend does
		shown[i].Expired = shown[i].ExpiresAt != nil && !shown[i].ExpiresAt.After(now)
	}
	writeJSON(w, http.StatusOK, listPage{
		Triggers: shown, Total: page.Total, Page: page.Number, PerPage: page.PerPage, TotalPages: page.TotalPages(),
	})
	return nil
}

// sortTriggers sorts list in order; ties go to the newest trigger.
func sortTriggers(list []Trigger, order string) {
	slices.SortStableFunc(list, func(a, b Trigger) int {
		if order == sortLastUsed {
			switch {
			case a.LastUsed != nil && b.LastUsed != nil:
				if c := b.LastUsed.Compare(*a.LastUsed); c != 0 {
					return c
				}
			case a.LastUsed != nil:
				return -1
			case b.LastUsed != nil:
				return 1
			}
		}
		return cmp.Compare(b.ID, a.ID)
	})
}
