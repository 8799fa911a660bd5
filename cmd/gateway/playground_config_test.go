package main

import (
	"strings"
	"testing"
)

// The playground is on unless PLAYGROUND=false, and keeps headers in
// localStorage only with PLAYGROUND_PERSIST_HEADERS=true.
func TestPlaygroundOptions(t *testing.T) {
	for _, tc := range []struct {
		name        string
		args        []string
		env         map[string]string
		wantOff     bool
		wantPersist bool
	}{
		{"defaults", nil, nil, false, false},
		{"env off", nil, map[string]string{"PLAYGROUND": "false"}, true, false},
		{"flag off", []string{"-playground=false"}, nil, true, false},
		{"flag wins over env", []string{"-playground=true"}, map[string]string{"PLAYGROUND": "false"}, false, false},
		{"persist by env", nil, map[string]string{"PLAYGROUND_PERSIST_HEADERS": "true"}, false, true},
		{"persist by flag", []string{"-playground-persist-headers=yes"}, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(append([]string{"-demo"}, tc.args...), envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			h := o.gateway.Hardening
			if h.DisablePlayground != tc.wantOff || h.PlaygroundPersistHeaders != tc.wantPersist {
				t.Fatalf("DisablePlayground = %v, PlaygroundPersistHeaders = %v; want %v, %v", h.DisablePlayground, h.PlaygroundPersistHeaders, tc.wantOff, tc.wantPersist)
			}
		})
	}
	for _, name := range []string{"PLAYGROUND", "PLAYGROUND_PERSIST_HEADERS"} {
		_, err := parseOptions([]string{"-demo"}, envOf(map[string]string{name: "maybe"}))
		if err == nil || !strings.Contains(err.Error(), name+" must be true or false") {
			t.Errorf("%s=maybe: %v", name, err)
		}
	}
}
