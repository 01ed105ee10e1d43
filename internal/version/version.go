// Package version reports the build's version, commit and the versions of
// the Go toolchain and client-go it was built with.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version and Commit are set at link time with -ldflags -X.
var (
	Version = "dev"
	Commit  = ""
)

// Info describes a build.
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	ClientGo string `json:"clientGo"`
	Platform string `json:"platform"`
}

// Get returns the running binary's build information.
func Get() Info {
	info := Info{Version: Version, Commit: Commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	for _, dep := range bi.Deps {
		if dep.Path == "k8s.io/client-go" {
			info.ClientGo = dep.Version
			if dep.Replace != nil {
				info.ClientGo = dep.Replace.Version
			}
		}
	}
	if info.Commit == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.Commit = s.Value
			}
		}
	}
	return info
}

// String renders the information on one line.
func (i Info) String() string {
	return fmt.Sprintf("carina %s (commit %s, %s, client-go %s, %s)", i.Version, orUnknown(i.Commit), i.Go, orUnknown(i.ClientGo), i.Platform)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
