// Package apply makes a cluster match a rendered object set with server-side
// apply (field manager "carina"): staged ordering, whole-set dry-run, skipping
// unchanged objects, an in-cluster inventory per (app, env), safe pruning,
// health and diff. It returns change sets as data and never logs.
//
// A Manager serves one cluster:
//
//	m, err := apply.New(restConfig, apply.DefaultOptions())
//	cs, err := m.Apply(ctx, set, apply.DefaultApplyOptions())
//	rep, err := m.Wait(ctx, set)              // until Current, or a failure
//	objs, err := m.Diff(ctx, set, apply.DiffOptions{Prune: true})
//
// Apply, in order:
//
//  1. validates the set: names, the ownership labels of its app and env on
//     every object (they are never added), no duplicates, not empty unless
//     AllowEmpty;
//  2. maps every kind (refreshing discovery once when one is unknown; kinds
//     that CRDs of the set define wait for those CRDs);
//  3. runs the stages: "definitions" (CRDs, Namespaces, cluster RBAC), then
//     "resources" in waves (configuration, then workloads, then webhooks
//     and API services). Per stage it LISTs the live objects labelled for
//     the app (one LIST per resource), settles what needs no request
//     (provably unchanged objects, read-only and apply-once objects), dry-runs
//     everything else, and writes nothing of the stage if any dry-run fails;
//     then it writes, wave by wave, in parallel. CRDs are waited for until
//     Established;
//  4. records the inventory before the first write when the set has objects
//     the inventory lacks, so that a crash never leaves an object unrecorded;
//  5. prunes old inventory − new set, only when everything applied, and
//     records the inventory again (when it changed).
//
// An object is provably unchanged, without a dry-run, when carina's Apply
// entry in its managedFields names exactly the fields the desired object
// sets and the live object holds the desired value in each: a server-side
// apply would then change no value and no ownership. Otherwise a dry-run
// result equal to the live object proves it.
//
// A set kept after its apply drops its Secrets' values
// (Set.WithoutSecretValues); its withheld objects are never written.
//
// Typed errors, for errors.Is and errors.As: ErrEmptySet, ErrInvalidSet
// (*InvalidSetError), ErrConflict (*ConflictError), ErrImmutable
// (*ImmutableError), ErrNotOwned (*OwnershipError), ErrWithheld,
// *StageError (which unwraps to the objects' errors) and *HealthError.
//
// Subpackages: inventory (the ConfigMap encoding), health (kstatus with a
// few own rules, and CUE health policies), diff (changed fields, unified
// and JSON output, Secret masking) and policy (application policies to
// per-object policies). See docs/apply.md.
package apply
