// Package deploy holds Herald's deployment kit: the Kubernetes manifests under k8s/ (the
// Dockerfile sits at the repository root), the Prometheus rules under prometheus/ and the
// Grafana dashboard under grafana/. Its tests check that every manifest parses and that the
// shutdown timings fit together, run promtool over the rules and their unit tests, and run
// every rule and dashboard query through a real Prometheus scraping a real Herald;
// docs/deploy.md and docs/metrics.md explain them.
package deploy
