package main

import (
	"fmt"
	"runtime/debug"
)

// version and revision override what the build info says, for builds
// that carry no module version or VCS stamp (go build -buildvcs=false, a
// source tarball):
//
//	go build -ldflags "-X main.version=v1.4.0 -X main.revision=$(git rev-parse HEAD)" ./cmd/gateway
//
// They are set by the linker only, never at run time.
var (
	version  string
	revision string
)

// versionLine says which gateway this is: module version, VCS revision
// and the Go toolchain that built it, from debug.ReadBuildInfo.
func versionLine() string {
	v, rev, when, modified, goVersion, module := version, revision, "", "", "unknown", "github.com/serfigas/brilla-gateway"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if bi.Main.Path != "" {
			module = bi.Main.Path
		}
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.time":
				when = " " + s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	return fmt.Sprintf("gateway %s %s, revision %s%s%s, built with %s", module, v, rev, modified, when, goVersion)
}
