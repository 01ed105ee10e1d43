// Command image builds Carina's OCI image without a container engine:
// the static carina binary on an empty base, run as 65532:65532, written
// as an OCI image layout archive (`make image`) or pushed to a registry
// (`make image-push REGISTRY=...`).
//
//	go run ./deploy/image -binary bin/image/carina -version v0.1.0 -revision $(git rev-parse HEAD) -out bin/carina-image.tar
//	go run ./deploy/image -from bin/carina-image.tar -push registry.example.com/carina:v0.1.0
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	var o buildOptions
	var out, from, push string
	fs.StringVar(&o.Binary, "binary", "", "the static carina binary to put in the image")
	fs.StringVar(&o.Version, "version", "dev", "the version label (org.opencontainers.image.version)")
	fs.StringVar(&o.Revision, "revision", "", "the commit label (org.opencontainers.image.revision)")
	fs.StringVar(&o.Source, "source", "https://github.com/carina-gitops/carina", "the source label (org.opencontainers.image.source)")
	fs.StringVar(&o.CABundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA certificates for HTTPS Git hosts (empty: none)")
	fs.StringVar(&o.Arch, "arch", runtime.GOARCH, "the binary's architecture")
	fs.StringVar(&out, "out", "", "write the image as an OCI layout archive to this file")
	fs.StringVar(&from, "from", "", "read the image from this OCI layout archive instead of building it")
	fs.StringVar(&push, "push", "", "push the image to this reference (registry/repository:tag)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if out == "" && push == "" {
		return errors.New("-out or -push is required")
	}
	var img imageT
	var err error
	if from != "" {
		img, err = readArchive(from)
	} else {
		img, err = build(o)
	}
	if err != nil {
		return err
	}
	if out != "" {
		ref := "carina:" + o.Version
		if err := writeArchive(img, ref, out); err != nil {
			return err
		}
		d, _ := img.Digest()
		fmt.Printf("wrote %s (%s, %s)\n", out, ref, d)
	}
	if push != "" {
		d, err := pushImage(img, push)
		if err != nil {
			return err
		}
		fmt.Printf("pushed %s@%s\n", push, d)
	}
	return nil
}
