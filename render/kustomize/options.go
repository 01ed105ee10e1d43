package kustomize

// Options bounds a render. Use DefaultOptions and change what you need.
type Options struct {
	// MaxFiles caps the files copied from the repository for the build.
	MaxFiles int
	// MaxBytes caps the bytes copied from the repository for the build.
	MaxBytes int64
	// MaxObjects caps the objects the build may produce.
	MaxObjects int
	// MaxOutputBytes caps the size of the produced objects, counted as the
	// bytes of their keys and scalar values.
	MaxOutputBytes int64
	// StrictSubstitute makes a ${VAR} with no value and no default an
	// error. Otherwise it becomes the empty string, as in Flux.
	StrictSubstitute bool
}

// DefaultOptions returns the limits Carina uses unless configured otherwise.
func DefaultOptions() Options {
	return Options{
		MaxFiles:       20000,
		MaxBytes:       64 << 20,
		MaxObjects:     20000,
		MaxOutputBytes: 64 << 20,
	}
}
