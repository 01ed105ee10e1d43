// Package pin reads and writes environment pins: the revision of the app
// repository an environment deploys instead of the branch head, kept in Git
// as environments/<env>.yaml with one field, "revision: <commit or tag>".
//
// Read parses a pin from a snapshot. Clone, then Repo.PushChange, writes a
// pin change as one commit on a new branch and pushes it with the source's
// credentials, all with go-git in memory; it never runs git. Re-running a
// change that the branch already holds pushes nothing.
//
//	repo, err := pin.Clone(ctx, ref.URL, ref.Auth, "main", policy)
//	file, _ := pin.Path("", "prod")
//	old, err := repo.ReadPin(file) // errors.Is(err, pin.ErrNotPinned) when unpinned
//	res, err := repo.PushChange(ctx, "carina/promote/shop-prod", file,
//		pin.Format("shop", "prod", pin.Pin{Revision: sha}), "Promote shop to prod", pin.DefaultSignature)
package pin
