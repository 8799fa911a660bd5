package server_test

import (
	"io/fs"
	"testing"

	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

func TestRuntimeDefaults(t *testing.T) {
	const v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	tests := []struct {
		name      string
		env       map[string]string
		files     map[string]string
		wantGC    int
		wantLimit int64
	}{
		{"nothing set, no cgroup", nil, nil, server.DefaultGCPercent, 0},
		{"GOGC set by the operator", map[string]string{"GOGC": "100"}, nil, 0, 0},
		{"GOGC=off is the operator's too", map[string]string{"GOGC": "off"}, nil, 0, 0},
		{"cgroup v2 limit", nil, map[string]string{v2: "536870912\n"}, server.DefaultGCPercent, 429496729},
		{"cgroup v2 without a limit", nil, map[string]string{v2: "max\n", v1: "1000"}, server.DefaultGCPercent, 0},
		{"cgroup v1 limit", nil, map[string]string{v1: "268435456\n"}, server.DefaultGCPercent, 214748364},
		{"cgroup v1 unlimited", nil, map[string]string{v1: "9223372036854771712\n"}, server.DefaultGCPercent, 0},
		{"GOMEMLIMIT set by the operator", map[string]string{"GOMEMLIMIT": "1GiB"}, map[string]string{v2: "536870912"}, server.DefaultGCPercent, 0},
		{"both set", map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, map[string]string{v2: "536870912"}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			readFile := func(path string) ([]byte, error) {
				if s, ok := tt.files[path]; ok {
					return []byte(s), nil
				}
				return nil, fs.ErrNotExist
			}
			gc, limit := server.RuntimeDefaults(getenv, readFile)
			if gc != tt.wantGC || limit != tt.wantLimit {
				t.Errorf("runtimeDefaults = %d, %d; want %d, %d", gc, limit, tt.wantGC, tt.wantLimit)
			}
		})
	}
}
