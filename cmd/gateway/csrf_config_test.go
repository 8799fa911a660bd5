package main

import (
	"strings"
	"testing"
)

// CSRF prevention is off by default and turned on by flag or environment.
func TestCSRFPreventionOption(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"default off", nil, nil, false},
		{"env", nil, map[string]string{"CSRF_PREVENTION": "true"}, true},
		{"flag", []string{"-csrf-prevention=yes"}, nil, true},
		{"flag wins over env", []string{"-csrf-prevention=false"}, map[string]string{"CSRF_PREVENTION": "true"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(append([]string{"-demo"}, tc.args...), envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := o.gateway.Hardening.CSRFPrevention; got != tc.want {
				t.Fatalf("CSRFPrevention = %v, want %v", got, tc.want)
			}
		})
	}
	_, err := parseOptions([]string{"-demo", "-csrf-prevention=maybe"}, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "CSRF_PREVENTION must be true or false") {
		t.Fatalf("bad value: %v", err)
	}
}
