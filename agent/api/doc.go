// Package api is the agent's HTTP surface and its client: /healthz,
// /readyz, /metrics, the status API under /api/v1/ and the webhook
// receivers under /hooks/. It owns the JSON types of the status (AppStatus,
// EnvStatus, ...) that carina status prints, and the rules of access:
// an optional bearer token on /api/, and POST endpoints (reconcile,
// suspend, resume) that answer 403 unless writes are enabled, which needs
// a token. pprof is a separate handler that ListenDebug serves only on a
// loopback address.
//
// Endpoints:
//
//	GET  /api/v1/apps                      []AppSummary
//	GET  /api/v1/apps/{app}                AppStatus
//	GET  /api/v1/apps/{app}/envs/{env}     EnvStatus
//	POST /api/v1/apps/{app}/reconcile      202 Accepted
//	POST /api/v1/apps/{app}/suspend        202 Accepted
//	POST /api/v1/apps/{app}/resume         202 Accepted
//
// The agent implements Status and Controller; this package only serves
// them and never logs.
package api
