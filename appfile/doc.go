// Package appfile parses application descriptions (the KubeVela-compatible
// core.oam.dev/v1beta1 Application and Carina's short Appfile form) into the
// typed Application value, with source positions for every error, and derives
// the environments an application deploys to.
package appfile
