package sops

// Options bound the search for the files that hold an object's
// ciphertexts.
type Options struct {
	// MaxFiles is the most files of the snapshot the search visits.
	MaxFiles int
	// MaxFileBytes is the largest file it reads; larger ones are skipped.
	MaxFileBytes int64
	// MaxTotalBytes caps the bytes it reads in all.
	MaxTotalBytes int64
}

// DefaultOptions visit 50,000 files (the snapshot limit), read files of
// up to 8 MiB and 256 MiB in all.
func DefaultOptions() Options {
	return Options{MaxFiles: 50_000, MaxFileBytes: 8 << 20, MaxTotalBytes: 256 << 20}
}

// Decryptor decrypts with one source's keys. It is safe for concurrent
// use.
type Decryptor struct {
	keys *Keys
	opts Options
}

// New returns a Decryptor for keys (nil: no key, so every encrypted file
// fails with ErrNoKey). Zero fields of opts take DefaultOptions.
func New(keys *Keys, opts Options) *Decryptor {
	def := DefaultOptions()
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = def.MaxFiles
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = def.MaxFileBytes
	}
	if opts.MaxTotalBytes <= 0 {
		opts.MaxTotalBytes = def.MaxTotalBytes
	}
	return &Decryptor{keys: keys, opts: opts}
}
