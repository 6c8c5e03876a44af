// Package testenv is what the node's end-to-end tests share to run real
// nodes: the medchain binary, built once per test process, and free
// loopback ports. Only tests import it; it holds no fakes, and every
// helper fails the calling test with the reason when it cannot do its
// job.
package testenv
