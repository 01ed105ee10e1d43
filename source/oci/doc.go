// Package oci turns an OCI artifact reference (oci://registry/repo with a
// tag, a semver range over tags, or a digest) into an immutable
// source.Snapshot, the same value a Git source gives: a read-only file
// tree confined to its root.
//
// Its one concern is pulling app files from OCI registries. It reads the
// format `flux push artifact` writes (a manifest whose layer is a gzip
// tarball of media type application/vnd.cncf.flux.content.v1.tar+gzip,
// with the org.opencontainers.image.{source,revision,created}
// annotations) and plain OCI tar+gzip layers.
//
//	f, err := oci.NewFetcher(oci.Options{CacheDir: dir})
//	snap, err := f.Fetch(ctx, oci.Ref{URL: "oci://ghcr.io/acme/shop", Tag: "latest",
//		Auth: source.Auth{Username: "u", PasswordFile: "/secrets/pw"}})
//
// Fetch resolves the tag to a manifest digest first (one HEAD request);
// when a tree for that digest is on disk it returns at once, so a poll
// that finds nothing new downloads nothing. Otherwise it checks the
// signature when Ref.Verify asks for one (cosign's keyed format: the
// "sha256-<hex>.sig" tag, verified with a public key file), downloads the
// layer within Options.Limits (bytes, files, time: those of Git
// sources), verifies its digest and writes the tree under
// CacheDir/trees/<key>/<digest hex>.
//
// Credentials: basic auth or a bearer token from source.Auth files or
// environment variables, a custom CA (Auth.CAFile), and plain HTTP only
// with Ref.Insecure. Credentials are only ever sent to the registry's own
// host, never after a redirect to another host, and never appear in
// errors. The package returns data and never logs.
package oci
