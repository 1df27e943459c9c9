package config

import "time"

// DeployPolicy is how deploys of an app roll its instances.
type DeployPolicy struct {
	// Surge is how many new instances may start ahead of retiring old
	// ones, 1..256; default 1.
	Surge int `yaml:"surge"`
	// Drain is how long a retired instance's requests in flight may take
	// to finish before it is stopped, > 0; default 30s.
	Drain Duration `yaml:"drain"`
	// History is how many releases are kept for rollback, 1..100; default 10.
	History int `yaml:"history"`
	// ReleaseTimeout bounds the release phase, > 0; default 30m.
	ReleaseTimeout Duration `yaml:"release_timeout"`
}

func (d *DeployPolicy) setDefaults() {
	*d = DeployPolicy{Surge: 1, Drain: Duration(30 * time.Second), History: 10, ReleaseTimeout: Duration(30 * time.Minute)}
}

func (k *checker) deployPolicy(p string, d *DeployPolicy) {
	k.between(p+".surge", d.Surge, 1, maxInstances)
	k.positive(p+".drain", d.Drain)
	k.between(p+".history", d.History, 1, 100)
	k.positive(p+".release_timeout", d.ReleaseTimeout)
}
