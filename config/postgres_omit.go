//go:build licgate_omit_postgres

package config

// postgresBuilt: this build (the router build) leaves PostgreSQL out.
const postgresBuilt = false
