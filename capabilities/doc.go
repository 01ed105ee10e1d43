// Package capabilities is the registry of component, trait, policy and
// workflow-step definitions written in CUE in KubeVela's definition format.
// Definitions come from the application repository, capability repositories
// and the built-in library embedded in the binary, in that precedence order.
//
// A definition file holds a header of plain data (type, description,
// attributes) and a template. The registry records each definition's origin
// and revision, refuses imports outside the pure CUE standard library, and
// compiles templates once per content digest in a Cache shared by every
// registry of the process. Vet checks a module and reports every problem
// with its position; Parameters extracts the parameter schema for docs.
//
//	cache := capabilities.NewCache(capabilities.DefaultCacheOptions())
//	opts := capabilities.DefaultOptions()
//	opts.Cache = cache
//	reg, err := capabilities.NewRegistry(ctx, opts,
//		capabilities.Module{Source: capabilities.SourceApp, FS: repo, Dir: ".carina/definitions", Revision: sha, Optional: true})
//	def, err := reg.Get(capabilities.KindComponent, "webservice")
package capabilities
