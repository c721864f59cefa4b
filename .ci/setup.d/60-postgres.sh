# store/postgres, cluster and cluster/clustertest tests start their own
# PostgreSQL (pgtest: initdb as the postgres user, unix socket in a temp
# dir) and keepalived in namespaces; both come from .ci/apt.d/postgres.txt.
# Debian's postgresql package creates and may start a cluster of its
# own: the tests do not use it; stop it if it runs.
if command -v pg_ctlcluster >/dev/null 2>&1; then
	for c in $(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 "/" $2}'); do
		pg_ctlcluster "${c%/*}" "${c#*/}" stop || true
	done
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
command -v keepalived >/dev/null
