package server

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGCPercent is the gateway's GOGC when the environment sets none.
// Go's default (100) collects whenever the heap has doubled; the gateway's
// live data is small (indexes, caches) and its garbage per request large
// (about 250 KB for a 50-tax page), so at 100 it collects very often. At
// 200, an uncached read's ratio to the floor rose by 15-35% for about
// 10 MiB more resident memory under 64 connections (BENCHMARKS.md, "A
// lean execution path").
const DefaultGCPercent = 200

// memoryLimitShare is the part of the container's memory limit the Go
// runtime is told to stay under (GOMEMLIMIT) when the environment sets
// none: the collector works harder near it instead of the container being
// killed, and the rest is left for memory the Go heap does not count.
const memoryLimitShare = 0.8

// ApplyRuntimeDefaults sets the collector's defaults the environment left
// unset (GOGC, GOMEMLIMIT); an operator's values always win.
func ApplyRuntimeDefaults() {
	gcPercent, memLimit := RuntimeDefaults(os.Getenv, os.ReadFile)
	if gcPercent > 0 {
		debug.SetGCPercent(gcPercent)
	}
	if memLimit > 0 {
		debug.SetMemoryLimit(memLimit)
	}
}

// RuntimeDefaults returns the GOGC and GOMEMLIMIT to apply, 0 for "leave
// as it is": GOGC DefaultGCPercent unless GOGC is set, and GOMEMLIMIT
// memoryLimitShare of the container's memory limit unless GOMEMLIMIT is
// set or no limit is found.
func RuntimeDefaults(getenv func(string) string, readFile func(string) ([]byte, error)) (gcPercent int, memLimit int64) {
	if getenv("GOGC") == "" {
		gcPercent = DefaultGCPercent
	}
	if getenv("GOMEMLIMIT") != "" {
		return gcPercent, 0
	}
	// The container's memory limit: cgroup v2, then v1.
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := readFile(path)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a page-rounded huge number (v1) mean no limit.
		if err != nil || limit <= 0 || limit >= 1<<50 {
			return gcPercent, 0
		}
		return gcPercent, int64(float64(limit) * memoryLimitShare)
	}
	return gcPercent, 0
}
