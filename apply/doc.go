// Package apply makes a cluster match a rendered object set with server-side
// apply (field manager "carina"): staged ordering, whole-set dry-run, skipping
// unchanged objects, an in-cluster inventory per (app, env), safe pruning,
// health and diff. It returns change sets as data and never logs.
package apply
