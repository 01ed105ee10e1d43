// Package inventory encodes what Carina applied for one (app, env) as a
// ConfigMap in the target cluster: the object IDs with their prune options,
// the source revision, the render digest, the last result and health, when
// it changed, and opaque extra values for other parts of Carina.
//
// Objects are one line each, group_Kind_namespace_name (see ID.Key),
// followed by flag letters when prune needs them. Above
// Options.CompressAbove the list moves, gzip-compressed, to binaryData
// "objects.gz"; 10,000 objects take well under the 1 MiB ConfigMap limit.
// Read one with kubectl:
//
//	kubectl -n carina-system get configmap carina-inv.shop.prod -o jsonpath='{.data.objects}'
//	kubectl -n carina-system get configmap carina-inv.shop.prod -o jsonpath='{.binaryData.objects\.gz}' | base64 -d | gunzip
//
// The package is pure: package apply reads and writes the ConfigMap.
package inventory
