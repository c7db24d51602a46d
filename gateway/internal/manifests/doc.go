// Package manifests holds the test of Fanout's Kubernetes manifests
// (deploy/k8s): each one decodes strictly into the Kubernetes API types
// of its kind, and each line that names the gateway (its flags, ports,
// probe paths, tokens file, Redis password variable) names what the
// gateway really has. It is a package of its own so that only its test
// compiles the Kubernetes types.
package manifests
