// Package appfile parses application descriptions (the KubeVela-compatible
// core.oam.dev/v1beta1 Application and Carina's short Appfile form) into the
// typed Application value, with source positions for every error, and derives
// the environments an application deploys to.
//
// It owns three things:
//
//   - Parse, ParseWithOptions and ParseAll read one file. Both syntaxes
//     become the same Application; every component, trait, policy and
//     workflow step carries its Position. Validate checks an Application
//     built in code the same way.
//   - Load and LoadWithOptions discover the applications of a repository
//     tree (an fs.FS, for example a source snapshot) and set their Dir.
//     LoadEach does the same file by file for the agent: the apps of the
//     files that load, with an ErrorList for the broken ones, so that one
//     broken file holds back only its own apps.
//   - Environments derives the environments of an application from its
//     topology and override policies and its deploy steps, with KubeVela's
//     semantics.
//
// Every failure is an ErrorList holding all problems found, each with its
// file:line:col; no partial result is returned with it (LoadEach aside). Inputs are bounded
// (ParseOptions, LoadOptions): file size, documents per file, nesting
// depth, and the number of YAML nodes a document may expand to with its
// aliases, which is measured before anything is expanded.
//
// Usage:
//
//	app, err := appfile.Parse("Appfile", data)
//	if err != nil {
//		var list appfile.ErrorList
//		errors.As(err, &list) // one *Error per problem, with Pos
//		return err
//	}
//	envs, err := appfile.Environments(app)
//
// The syntax of the short form and the rules of Environments are in
// docs/appfile.md. The package does no I/O besides reading the fs.FS it is
// given, never logs, and returns values that callers may read concurrently.
package appfile
