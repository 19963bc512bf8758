// Package deploy holds Herald's deployment kit: the Kubernetes manifests under k8s/ (the
// Dockerfile sits at the repository root). Its tests check that every manifest parses and
// that the shutdown timings fit together; docs/deploy.md explains the settings.
package deploy
