package tokenstore

import (
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestNewConfig(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"minimal", Config{Storage: storage, InstanceID: "a"}, false},
		{"negative cache disabled", Config{Storage: storage, InstanceID: "a", NegativeCacheTTL: -1}, false},
		{"no storage", Config{InstanceID: "a"}, true},
		{"no instance", Config{Storage: storage}, true},
		{"negative size", Config{Storage: storage, InstanceID: "a", CacheSize: -1}, true},
		{"negative TTL", Config{Storage: storage, InstanceID: "a", CacheTTL: -time.Second}, true},
		{"negative interval", Config{Storage: storage, InstanceID: "a", FlushInterval: -time.Second}, true},
		{"change feed off", Config{Storage: storage, InstanceID: "a", ChangePollInterval: -1}, false},
		{"negative retention", Config{Storage: storage, InstanceID: "a", ChangeRetention: -time.Second}, true},
		{"negative storage timeout", Config{Storage: storage, InstanceID: "a", StorageTimeout: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if tt.wantErr {
				if err == nil {
					_ = s.Close()
					t.Fatal("New accepted an invalid config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.flushEvery.get() != DefaultFlushInterval || s.logger == nil || s.observer == nil || s.now == nil ||
				s.retention != DefaultChangeRetention || s.storage.timeout() != DefaultStorageTimeout {
				t.Fatalf("defaults not applied: %+v", s)
			}
			if off := tt.cfg.ChangePollInterval < 0; off != (s.pollEvery.get() < 0) ||
				!off && s.pollEvery.get() != DefaultChangePollInterval {
				t.Fatalf("poll interval = %s for %s", s.pollEvery.get(), tt.cfg.ChangePollInterval)
			}
			if negativeOn := s.cache.negTTL.Load() > 0; negativeOn == (tt.cfg.NegativeCacheTTL < 0) {
				t.Fatalf("negative caching on = %v with TTL %v", negativeOn, tt.cfg.NegativeCacheTTL)
			}
		})
	}
}

func TestDestructCloses(t *testing.T) {
	s, err := New(Config{Storage: &certmagic.FileStorage{Path: t.TempDir()}, InstanceID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Destruct(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.loopDone:
	default:
		t.Fatal("Destruct did not stop the flush loop")
	}
}
