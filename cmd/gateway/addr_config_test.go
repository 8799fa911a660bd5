package main

import (
	"testing"
)

// The demo, which prints a writing API key, listens on loopback unless an
// address is given; production keeps every interface.
func TestDefaultListenAddress(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"demo", []string{"-demo"}, nil, "127.0.0.1:8080"},
		{"demo with -addr", []string{"-demo", "-addr", ":9000"}, nil, ":9000"},
		{"demo with ADDR", []string{"-demo"}, map[string]string{"ADDR": "0.0.0.0:8080"}, "0.0.0.0:8080"},
		{"production", nil, map[string]string{"BRILLA_URL": "https://b.example", "SERPI_URL": "https://s.example", "SERPI_SECRET_KEY": "k", "SERPI_TOKEN": "t"}, ":8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if o.addr != tt.want {
				t.Fatalf("addr %q, want %q", o.addr, tt.want)
			}
		})
	}
}
