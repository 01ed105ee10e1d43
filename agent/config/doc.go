// Package config reads the agent's configuration file, carina.yaml: the
// application and capability repositories, the clusters (a kubeconfig file
// and context, the in-cluster service account, or a kubeconfig in a
// Secret), webhook receivers and their secrets, listen addresses, the
// reconcile loop's concurrency, intervals and timeouts, limits and leader
// election.
//
// Parsing is strict: an unknown key, a wrong type, a duplicate key, a
// second YAML document and every semantic problem are all reported at once
// as an ErrorList, each with file:line:col. Parse never touches the disk
// or the network; CheckSecrets reads the secret files the file names, and
// Cluster.RESTConfig builds a client configuration (refusing kubeconfig
// exec plugins unless the cluster sets allowExec).
//
//	cfg, err := config.Load("carina.yaml")
//	if err != nil {
//		return err // every problem, one per line
//	}
//
// docs/agent.md documents every field with an example.
package config
