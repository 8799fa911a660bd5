package degrade

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/testutil"
)

func TestGate(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	g := &Gate{Name: "thing", Logger: slog.New(slog.NewTextHandler(logs, nil)), ProbeInterval: 50 * time.Millisecond}
	if !g.TryPrimary() {
		t.Fatal("a healthy gate refused the primary")
	}
	g.Failed(errors.New("connection refused"))
	g.Failed(errors.New("connection refused"))
	if !g.Degraded() || g.TryPrimary() {
		t.Fatal("right after a failure the primary must be skipped")
	}
	time.Sleep(60 * time.Millisecond)
	probes := 0
	for range 10 {
		if g.TryPrimary() {
			probes++
		}
	}
	if probes != 1 {
		t.Fatalf("%d probes in one interval, want 1", probes)
	}
	g.Succeeded()
	g.Succeeded()
	if g.Degraded() || !g.TryPrimary() {
		t.Fatal("not healthy after a success")
	}
	out := logs.String()
	if strings.Count(out, "redis unavailable") != 1 || strings.Count(out, "redis is back") != 1 {
		t.Fatalf("transitions not logged once each:\n%s", out)
	}
}
