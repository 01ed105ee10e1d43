package appfile

// ParseOptions bounds the work Parse does on one file. Zero or negative
// fields mean the default.
type ParseOptions struct {
	// MaxFileBytes is the largest file accepted. Default 1 MiB.
	MaxFileBytes int
	// MaxDocuments is the largest number of YAML documents in one file.
	// Default 100.
	MaxDocuments int
	// MaxDepth is the deepest nesting of mappings and sequences, aliases
	// followed. Default 100.
	MaxDepth int
	// MaxNodes is the largest number of YAML nodes that one document, and
	// all the applications of one file together, may expand to, every
	// alias counted as a copy of what it names. It stops alias bombs
	// ("billion laughs") before anything is expanded. Default 262144.
	MaxNodes int
}

// DefaultParseOptions returns the limits Parse uses.
func DefaultParseOptions() ParseOptions {
	return ParseOptions{
		MaxFileBytes: 1 << 20,
		MaxDocuments: 100,
		MaxDepth:     100,
		MaxNodes:     1 << 18,
	}
}

func (o ParseOptions) withDefaults() ParseOptions {
	d := DefaultParseOptions()
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = d.MaxFileBytes
	}
	if o.MaxDocuments <= 0 {
		o.MaxDocuments = d.MaxDocuments
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = d.MaxDepth
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = d.MaxNodes
	}
	return o
}

// LoadOptions bounds the walk Load does over a repository tree. Zero or
// negative fields mean the default.
type LoadOptions struct {
	// Parse bounds each file.
	Parse ParseOptions
	// MaxEntries is the largest number of files and directories visited.
	// Default 20000.
	MaxEntries int
	// MaxDepth is the deepest directory level below dir that is searched.
	// Default 32.
	MaxDepth int
	// MaxTotalBytes is the most file content read in one walk. Default
	// 64 MiB.
	MaxTotalBytes int64
	// MaxTotalNodes is the largest number of YAML nodes all applications
	// found in one walk may expand to together. Default 2097152.
	MaxTotalNodes int
}

// DefaultLoadOptions returns the limits Load uses.
func DefaultLoadOptions() LoadOptions {
	return LoadOptions{
		Parse:         DefaultParseOptions(),
		MaxEntries:    20000,
		MaxDepth:      32,
		MaxTotalBytes: 64 << 20,
		MaxTotalNodes: 1 << 21,
	}
}

func (o LoadOptions) withDefaults() LoadOptions {
	d := DefaultLoadOptions()
	o.Parse = o.Parse.withDefaults()
	if o.MaxEntries <= 0 {
		o.MaxEntries = d.MaxEntries
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = d.MaxDepth
	}
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = d.MaxTotalBytes
	}
	if o.MaxTotalNodes <= 0 {
		o.MaxTotalNodes = d.MaxTotalNodes
	}
	return o
}
