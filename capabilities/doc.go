// Package capabilities is the registry of component, trait, policy and
// workflow-step definitions written in CUE in KubeVela's definition format.
// Definitions come from the application repository, capability repositories
// and the built-in library embedded in the binary, in that precedence order.
package capabilities
