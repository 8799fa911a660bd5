// Package deploy holds the gateway's deployment files (Dockerfile, compose
// stack, Kubernetes manifests) and, in its tests, their checks: the
// manifests decode into the Kubernetes API types and agree with each other
// and with the gateway (probes, ports, selectors, environment names).
//
// It is a module of its own so that the Kubernetes API packages its tests
// need stay out of the gateway's go.mod and build.
package deploy
