// Package drift watches the objects of every inventory, compares them with
// the last applied intent, classifies each change and corrects or reports it
// according to the environment's drift policy.
package drift
