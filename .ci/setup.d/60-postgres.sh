# store/postgres, cluster and cluster/clustertest tests start their own
# PostgreSQL (pgtest: initdb into a temp dir as the postgres user, unix
# socket there) and keepalived in namespaces, from .ci/apt.d/postgres.txt.
# Debian's own cluster (port 5432) is not used. Fail early if missing.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
command -v keepalived >/dev/null
