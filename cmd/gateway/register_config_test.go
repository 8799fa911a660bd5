package main

import (
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/registration"
)

func TestRegisterLimitsAndWindowsFromFlagsAndEnv(t *testing.T) {
	none := func(string) string { return "" }
	o, err := parseOptions(nil, none)
	if err != nil {
		t.Fatal(err)
	}
	g := o.gateway
	if g.MaxAttachmentBytes != registration.DefaultMaxFileBytes || g.MaxAttachmentsTotalBytes != registration.DefaultMaxTotalBytes ||
		g.MaxAttachments != registration.DefaultMaxFiles || g.IdempotencyKeyWindow != 24*time.Hour || g.RegisterDedupeWindow != 10*time.Minute {
		t.Fatalf("defaults: %d %d %d %v %v", g.MaxAttachmentBytes, g.MaxAttachmentsTotalBytes, g.MaxAttachments, g.IdempotencyKeyWindow, g.RegisterDedupeWindow)
	}

	env := map[string]string{"MAX_ATTACHMENT_BYTES": "1024", "MAX_ATTACHMENTS_TOTAL_BYTES": "4096", "IDEMPOTENCY_KEY_WINDOW": "1h"}
	o, err = parseOptions([]string{"-max-attachments", "3", "-register-dedupe-window", "2m"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	g = o.gateway
	if g.MaxAttachmentBytes != 1024 || g.MaxAttachmentsTotalBytes != 4096 || g.MaxAttachments != 3 ||
		g.IdempotencyKeyWindow != time.Hour || g.RegisterDedupeWindow != 2*time.Minute {
		t.Fatalf("configured: %d %d %d %v %v", g.MaxAttachmentBytes, g.MaxAttachmentsTotalBytes, g.MaxAttachments, g.IdempotencyKeyWindow, g.RegisterDedupeWindow)
	}

	bad := map[string]string{"MAX_ATTACHMENT_BYTES": "5MB", "MAX_ATTACHMENTS": "0", "REGISTER_DEDUPE_WINDOW": "soon"}
	_, err = parseOptions(nil, func(k string) string { return bad[k] })
	for name := range bad {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("bad %s not reported: %v", name, err)
		}
	}
}
