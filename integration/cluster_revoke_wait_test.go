package integration

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var debugFeed = regexp.MustCompile(`confirmed the change feed|applying a change|trigger revo|token storage`)

// revokeWait runs `caddy trigger revoke --wait [flags] ID` on g and
// returns its result and how long it took.
func (g *gateway) revokeWait(t *testing.T, id int64, flags ...string) (cliResult, time.Duration) {
	t.Helper()
	args := append([]string{"trigger", "revoke", "--address", g.adminAddr(), "--wait"}, flags...)
	start := time.Now()
	res := g.cli(t, append(args, strconv.FormatInt(id, 10))...)
	return res, time.Since(start)
}

// refusesAtOnce checks that g's very first request with tr's token, made
// right after a revocation returned, is refused.
func (g *gateway) refusesAtOnce(t *testing.T, tr triggerObj, what string) {
	t.Helper()
	status, err := g.triggerStatus(context.Background(), tr)
	g.siteRequests++
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusNotFound {
		g.up.take()
		for _, l := range g.logLines(t, debugFeed) {
			t.Log(g.base(), l)
		}
		t.Fatalf("%s: %s answered %d to the first request after `revoke --wait` returned, want 404", what, g.base(), status)
	}
}

// After `caddy trigger revoke --wait` through one instance returns, every
// other instance refuses the token on its very first request, every time,
// although each has it cached for an hour. An instance that cannot confirm
// (suspended: alive, but reading nothing) makes the command fail after its
// bound, naming it; run again once it is back, the wait confirms; once its
// process has ended, it is no longer waited for.
func TestClusterRevokeWaitRedis(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, "cache_ttl 1h\nnegative_cache_ttl 1h\nfailed_auth_limit off", nil)
	a, b, s := c.nodes[0], c.nodes[1], c.nodes[2]
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range b.logLines(t, debugFeed) {
				t.Log("B", l)
			}
		}
	})
	t.Logf("A %s, B %s, S %s", a.base(), b.base(), s.base())

	for i := range 5 {
		tr := a.addTrigger(t, addOpts{Project: "9", Description: "revoked with --wait", Owner: "alice"})
		a.triggerOK(t, tr) // cached on A and S for an hour
		s.triggerOK(t, tr)
		res, took := b.revokeWait(t, tr.ID)
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, "confirmed") {
			t.Fatalf("round %d: revoke --wait on B: exit %d\nstdout: %s\nstderr: %s", i, res.ExitCode, res.Stdout, res.Stderr)
		}
		t.Logf("round %d: revoke --wait returned after %s", i, took.Round(time.Millisecond))
		a.refusesAtOnce(t, tr, "round "+strconv.Itoa(i))
		s.refusesAtOnce(t, tr, "round "+strconv.Itoa(i))
	}

	// S suspended: alive, holding its instance name, confirming nothing.
	pid := s.proc.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // before the node's own cleanup stops it
	tr := a.addTrigger(t, addOpts{Project: "9", Description: "revoked while S is suspended", Owner: "alice"})
	a.triggerOK(t, tr)
	res, took := b.revokeWait(t, tr.ID, "--wait-timeout", "2s")
	idS, idA := s.instanceID(t), a.instanceID(t)
	switch {
	case res.ExitCode == 0:
		t.Fatalf("revoke --wait succeeded although S is suspended\nstdout: %s", res.Stdout)
	case !strings.Contains(res.Stderr, idS) || !strings.Contains(res.Stderr, "not confirmed"):
		t.Fatalf("revoke --wait failed without naming S (%s): %s", idS, res.Stderr)
	case strings.Contains(res.Stderr, idA):
		t.Fatalf("revoke --wait named A, which confirmed: %s", res.Stderr)
	case took < 2*time.Second || took > 10*time.Second:
		t.Fatalf("revoke --wait --wait-timeout 2s failed after %s", took)
	}
	a.refusesAtOnce(t, tr, "while S is suspended")
	resume()
	// The wait run again once S is back, through another instance than
	// the one that revoked: it confirms, and S refuses at once.
	if res, _ := a.revokeWait(t, tr.ID); res.ExitCode != 0 || !strings.Contains(res.Stdout, "confirmed") {
		t.Fatalf("revoke --wait run again after S resumed: exit %d\nstdout: %s\nstderr: %s", res.ExitCode, res.Stdout, res.Stderr)
	}
	s.refusesAtOnce(t, tr, "after the wait was run again")

	// S killed: its process has ended on this machine, so it is not live.
	s.kill(s.proc)
	tr = a.addTrigger(t, addOpts{Project: "9", Description: "revoked after S was killed", Owner: "alice"})
	a.triggerOK(t, tr)
	if res, _ := b.revokeWait(t, tr.ID); res.ExitCode != 0 {
		t.Fatalf("revoke --wait after S was killed: exit %d: %s", res.ExitCode, res.Stderr)
	}
	a.refusesAtOnce(t, tr, "after S was killed")
}

// The same on two instances sharing a file_system storage, through the
// admin API's DELETE ?wait= too; a bad wait value changes nothing.
func TestClusterRevokeWaitFileSystem(t *testing.T) {
	t.Parallel()
	cfg := config{Gateway: "storage file_system " + t.TempDir() + "\ncache_ttl 1h\nfailed_auth_limit off"}
	a, b := newGateway(t, cfg), newGateway(t, cfg)
	add := func(desc string) triggerObj {
		tr := a.addTrigger(t, addOpts{Project: "9", Description: desc, Owner: "alice"})
		b.secrets.addToken(tr.Token)
		a.triggerOK(t, tr) // cached on A for an hour
		return tr
	}
	deleteWait := func(tr triggerObj, wait string) response {
		req, err := http.NewRequest(http.MethodDelete,
			"http://"+b.adminAddr()+"/trigger_gateway/triggers/"+strconv.FormatInt(tr.ID, 10)+"?wait="+wait, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b.do(t, req)
	}

	for i := range 3 {
		tr := add("revoked with --wait")
		if res, _ := b.revokeWait(t, tr.ID); res.ExitCode != 0 {
			t.Fatalf("round %d: revoke --wait on B: exit %d: %s", i, res.ExitCode, res.Stderr)
		}
		a.refusesAtOnce(t, tr, "round "+strconv.Itoa(i))
	}

	tr := add("bad wait value")
	if resp := deleteWait(tr, "forever"); resp.Status != http.StatusBadRequest {
		t.Fatalf("DELETE ?wait=forever: %s, want 400", resp)
	}
	a.triggerOK(t, tr) // not revoked
	for _, wait := range []string{"true", "3s"} {
		tr := add("revoked through the admin API, wait=" + wait)
		if resp := deleteWait(tr, wait); resp.Status != http.StatusNoContent {
			t.Fatalf("DELETE ?wait=%s: %s, want 204", wait, resp)
		}
		a.refusesAtOnce(t, tr, "DELETE ?wait="+wait)
	}
}
