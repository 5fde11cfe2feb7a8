package tokenstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Instance names. Every store writes its usage under a name no other live
// store on the storage uses, so that a usage record always has one writer.
// The name is Config.InstanceID when free, else the first free of
// InstanceID-2 ... InstanceID-16. A store holds its name through the record
// instances/<name>, which it rewrites every heartbeat; a name is free when
// its record is missing, has not been rewritten for instanceStaleAfter, or
// was written on this machine by a process that no longer exists (a crashed
// or killed Caddy being restarted takes its own name back at once).
//
// Claims and renewals are made under the storage lock claimsLock, held
// only for their few operations. A store that had to take a suffixed name
// moves back to its own as soon as that is free; the records of the names
// it used stay and keep being summed, so no use is counted twice or lost,
// and the number of records is bounded by the number of stores that
// shared an ID at one time. Staleness compares the holder's clock with the
// claimer's: the machines' clocks must agree within a minute or so, which
// only matters for a holder on another machine.
//
// A live holder of InstanceID that is elsewhere (another machine, another
// boot, or another identity file: Config.InstanceHome) runs from a copy of
// this store's identity. With Config.RenewInstanceID, the store then takes
// a new ID for good instead of a suffixed name, so copies part ways.
const (
	maxInstanceSuffix  = 16
	heartbeatInterval  = 10 * time.Second
	instanceStaleAfter = 2 * time.Minute
	// claimTimeout bounds a whole claim, waiting for the claims lock included.
	claimTimeout = 30 * time.Second
)

// instanceRecord is what instances/<name> holds.
type instanceRecord struct {
	Instance string `json:"instance"`
	Nonce    string `json:"nonce"`
	Host     string `json:"host,omitempty"`
	BootID   string `json:"boot_id,omitempty"`
	PID      int    `json:"pid,omitempty"`
	// PIDNamespace is the holder's PID namespace (Linux): its PID names a
	// process only there. Empty from older versions and off Linux.
	PIDNamespace string `json:"pid_ns,omitempty"`
	// Home is where the holder keeps its instance ID (Config.InstanceHome).
	Home string `json:"home,omitempty"`
	// Run names the holding store for as long as it is open, whatever name
	// it holds: its change feed confirmations carry it (see confirm.go).
	Run       string    `json:"run,omitempty"`
	Heartbeat time.Time `json:"heartbeat"`
}

// processFacts tell this process from others: a record written on the
// same host during the same boot, in the same PID namespace, names a
// process that can be checked. Two containers sharing the host's network
// (Docker's --network host, Kubernetes' hostNetwork) share its host name
// and boot ID but not its PIDs: without the namespace, each would find the
// other's PID free and take a live store's name.
type processFacts struct {
	host  string
	boot  string // empty where unknown: the liveness shortcut is then off
	pidNS string // empty where unknown: the liveness shortcut is then off
	pid   int
}

func currentProcess() processFacts {
	host, _ := os.Hostname()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id") // Linux only
	pidNS, _ := os.Readlink("/proc/self/ns/pid")              // Linux only: "pid:[4026531836]"
	return processFacts{host: host, boot: strings.TrimSpace(string(boot)), pidNS: pidNS, pid: os.Getpid()}
}

// instanceName is the i-th candidate name: base, base-2, base-3, ...
func instanceName(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + "-" + strconv.Itoa(i+1)
}

// randomNonce returns 16 random hex characters.
func randomNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// InstanceID returns the name under which this store writes its usage
// records: Config.InstanceID, or a suffixed form of it while another live
// store sharing the storage holds that name.
func (s *Store) InstanceID() string {
	name, _ := s.currentInstance()
	return name
}

func (s *Store) currentInstance() (name, nonce string) {
	s.idMu.RLock()
	defer s.idMu.RUnlock()
	return s.instance, s.nonce
}

// holderGone reports whether the holder of rec can be taken over: its
// record went unrenewed for staleAfter, or it names a process of this
// machine's boot and this PID namespace that no longer exists. A record of
// an older version, without its namespace, waits for staleAfter.
func (s *Store) holderGone(rec *instanceRecord, now time.Time) bool {
	if now.Sub(rec.Heartbeat) > s.staleAfter {
		return true
	}
	p := s.process
	return p.boot != "" && rec.BootID == p.boot && rec.Host == p.host &&
		p.pidNS != "" && rec.PIDNamespace == p.pidNS &&
		rec.PID > 0 && rec.PID != p.pid && processGone(rec.PID)
}

// loadInstance reads a name's record; found is false when there is none.
// A record that cannot be decoded holds nothing and is reported as missing.
func (s *Store) loadInstance(ctx context.Context, name string) (rec *instanceRecord, found bool, err error) {
	data, err := s.storage.Load(ctx, instanceKey(name))
	if isNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.unavailable(ctx, "load", "loading instance record", err, zap.String("instance", name))
	}
	rec = new(instanceRecord)
	if err := json.Unmarshal(data, rec); err != nil {
		s.logger.Warn("ignoring an unreadable instance record", zap.String("instance", name))
		return nil, false, nil
	}
	return rec, true, nil
}

// writeInstance writes this store's record for name, dated now.
func (s *Store) writeInstance(ctx context.Context, name, nonce string) error {
	now := time.Now().UTC()
	data, err := json.Marshal(instanceRecord{
		Instance:     name,
		Nonce:        nonce,
		Host:         s.process.host,
		BootID:       s.process.boot,
		PID:          s.process.pid,
		PIDNamespace: s.process.pidNS,
		Home:         s.home,
		Run:          s.run,
		Heartbeat:    now,
	})
	if err == nil {
		err = s.storage.Store(ctx, instanceKey(name), data)
	}
	if err != nil {
		return s.unavailable(ctx, "store", "storing instance record", err, zap.String("instance", name))
	}
	s.renewed(now)
	return nil
}

// withClaimsLock runs f holding the storage lock over instance names.
func (s *Store) withClaimsLock(ctx context.Context, f func() error) error {
	if err := s.storage.Lock(ctx, claimsLock); err != nil {
		return s.unavailable(ctx, "lock", "locking instance names", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		if err := s.storage.Unlock(uctx, claimsLock); err != nil {
			s.storageError(uctx, "lock", err)
		}
	}()
	return f()
}

// tryClaim takes name if it is free. The caller holds the claims lock.
func (s *Store) tryClaim(ctx context.Context, name string) (nonce string, ok bool, err error) {
	rec, found, err := s.loadInstance(ctx, name)
	if err != nil {
		return "", false, err
	}
	if found && !s.holderGone(rec, time.Now()) {
		return "", false, nil
	}
	nonce = randomNonce()
	if err := s.writeInstance(ctx, name, nonce); err != nil {
		return "", false, err
	}
	return nonce, true, nil
}

// elsewhere reports whether rec was written by a store that is not on
// this machine during this boot, or keeps its instance ID in another place:
// a store running from a copy of this one's identity. Facts the record
// lacks (no boot ID off Linux, no home from older versions) do not count.
func (s *Store) elsewhere(rec *instanceRecord) bool {
	p := s.process
	return rec.Host != p.host ||
		(rec.BootID != "" && p.boot != "" && rec.BootID != p.boot) ||
		(rec.Home != "" && s.home != "" && rec.Home != s.home)
}

// renewIfCopied gives the store a new instance ID, through
// Config.RenewInstanceID, when a live store elsewhere holds its ID; if that
// fails, the store takes a suffixed name as usual. The caller holds the
// claims lock.
func (s *Store) renewIfCopied(ctx context.Context) error {
	if s.renewID == nil {
		return nil
	}
	rec, found, err := s.loadInstance(ctx, s.base)
	if err != nil || !found || s.holderGone(rec, time.Now()) || !s.elsewhere(rec) {
		return err
	}
	id, err := s.renewID()
	if err == nil && (id == "" || id == s.base) {
		err = fmt.Errorf("got %q", id)
	}
	if err != nil {
		// A suffixed name still keeps the two stores' records apart.
		s.logger.Error("a live gateway elsewhere uses this instance ID, and a new one could not be made",
			zap.String("instance_id", s.base), zap.String("holder_host", rec.Host), zap.Error(err))
		return nil
	}
	s.logger.Warn("a live gateway elsewhere uses this instance ID (its identity was copied, "+
		"with a data directory, a machine image or 'caddy storage import'); this instance takes a new one for good",
		zap.String("instance_id", s.base), zap.String("holder_host", rec.Host), zap.String("new_instance_id", id))
	s.base = id
	return nil
}

// claimFree takes the first free candidate name.
func (s *Store) claimFree(ctx context.Context) (name, nonce string, err error) {
	err = s.withClaimsLock(ctx, func() error {
		if err := s.renewIfCopied(ctx); err != nil {
			return err
		}
		for i := range maxInstanceSuffix {
			candidate := instanceName(s.base, i)
			n, ok, err := s.tryClaim(ctx, candidate)
			if err != nil {
				return err
			}
			if ok {
				name, nonce = candidate, n
				return nil
			}
		}
		return fmt.Errorf("%w: instance names %s to %s are all held by live gateways",
			ErrUnavailable, s.base, instanceName(s.base, maxInstanceSuffix-1))
	})
	return name, nonce, err
}

// claimInstance gives a new store its name.
func (s *Store) claimInstance(ctx context.Context) error {
	name, nonce, err := s.claimFree(ctx)
	if err != nil {
		return err
	}
	s.switchInstance(name, nonce)
	s.logClaim(name)
	return nil
}

func (s *Store) logClaim(name string) {
	if name == s.base {
		s.logger.Info("writing usage as this instance", zap.String("instance", name))
		return
	}
	fields := []zap.Field{zap.String("instance_id", s.base), zap.String("instance", name)}
	if s.home != "" {
		fields = append(fields, zap.String("instance_id_file", s.home))
	}
	s.logger.Warn("another live gateway on this storage uses this instance ID "+
		"(two processes sharing one instance ID file?); writing usage under a suffixed name "+
		"until the ID is free", fields...)
}

// switchInstance makes name this store's. When the name changes, or the
// same name is claimed again (another store held it meanwhile, and may
// have written its records), every counter forgets the last-used time and
// last pipeline it knew in storage, and the store its records kept in
// memory: the next flush starts from storage. Pending uses stay.
func (s *Store) switchInstance(name, nonce string) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if name != s.instance || nonce != s.nonce {
		s.countersMu.Lock()
		counters := slices.Collect(maps.Values(s.counters))
		s.countersMu.Unlock()
		for _, u := range counters {
			lock := s.shardLock(usageShard(u.id))
			lock.Lock()
			u.flushedLast.Store(0)
			u.flushedPipeline.Store(nil)
			lock.Unlock()
		}
		s.own.clear()
		s.keptDeliveries.clear()
	}
	s.instance, s.nonce = name, nonce
}

// heartbeat renews this store's record; if another store took the name
// over (this one could not renew it for instanceStaleAfter), it moves to a
// free one, and if it uses a suffixed name it moves back to its own once
// that is free, and no write of its records under the suffixed name is
// uncertain (a failed write that may have landed holds uses that are
// pending again: they must be written under the name that may hold them).
// It holds the claims lock, so a claim never interleaves with a renewal.
func (s *Store) heartbeat(ctx context.Context) {
	name, nonce := s.currentInstance()
	var lost, back bool
	var baseNonce string
	err := s.withClaimsLock(ctx, func() error {
		rec, found, err := s.loadInstance(ctx, name)
		if err != nil {
			return err
		}
		if !found || rec.Nonce != nonce {
			lost = true
			return nil
		}
		if err := s.writeInstance(ctx, name, nonce); err != nil || name == s.base || s.own.uncertainCount.Load() > 0 {
			return err
		}
		baseNonce, back, err = s.tryClaim(ctx, s.base)
		return err
	})
	switch {
	case err != nil:
		return // reported
	case lost:
		s.logger.Warn("this instance's name was taken over by another gateway; moving to a free one",
			zap.String("instance", name))
		if err := s.claimInstance(ctx); err != nil {
			s.logger.Debug("no free instance name yet", zap.Error(err))
		}
	case back:
		s.switchInstance(s.base, baseNonce)
		s.releaseInstance(ctx, name, nonce)
		s.logger.Info("instance ID free again; writing usage under it",
			zap.String("instance", s.base), zap.String("previous", name))
	}
}

// releaseInstance deletes name's record if this store still holds it, so
// that a restart takes the name back at once.
func (s *Store) releaseInstance(ctx context.Context, name, nonce string) {
	_ = s.withClaimsLock(ctx, func() error {
		rec, found, err := s.loadInstance(ctx, name)
		if err != nil || !found || rec.Nonce != nonce {
			return err
		}
		if err := s.storage.Delete(ctx, instanceKey(name)); err != nil {
			return s.unavailable(ctx, "delete", "releasing instance record", err, zap.String("instance", name))
		}
		// Its confirmations go with it: nobody waits on a closed store.
		if err := s.storage.Delete(ctx, confirmKey(name)); err != nil && !isNotExist(err) {
			return s.unavailable(ctx, "delete", "releasing instance confirmations", err, zap.String("instance", name))
		}
		return nil
	})
}

// heartbeatLoop renews the instance record until Close.
func (s *Store) heartbeatLoop(ctx context.Context) {
	defer s.loops.Done()
	ticker := time.NewTicker(s.heartbeatEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			s.heartbeat(ctx)
		}
	}
}
