//go:build !licgate_omit_postgres

package config

// postgresBuilt: this build has the PostgreSQL store (and cluster mode).
const postgresBuilt = true
