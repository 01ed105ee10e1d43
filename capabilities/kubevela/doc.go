// Package kubevela turns KubeVela's definition objects (ComponentDefinition,
// TraitDefinition, PolicyDefinition, WorkflowStepDefinition) into CUE files
// in KubeVela's definition format, the format Carina's registry reads, so
// that a platform team's definitions installed in a cluster come along
// unchanged.
//
//	files, err := kubevela.ReadDefinitions(ctx, dyn, "vela-system")
//	for _, f := range files {
//		os.WriteFile(filepath.Join(dir, f.Path), f.Data, 0o644)
//	}
//
// File converts one object; ReadDefinitions lists the four kinds in a
// namespace and converts each.
package kubevela
