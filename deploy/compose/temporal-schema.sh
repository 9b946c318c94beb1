#!/bin/sh
# Temporal's two databases on PostgreSQL, set up with its own SQL tool: each database is created if missing,
# a new one gets the versioning tables at version 0.0, then every versioned schema step it lacks is applied,
# from the schemas built into this release of the tool. The same run sets up a new cluster and upgrades an
# existing one, and changes nothing when both are current.
# The tool reads its connection from SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER and SQL_PASSWORD.
set -eu

: "${TEMPORAL_DB:?names Temporal's database}"
: "${TEMPORAL_VISIBILITY_DB:?names Temporal's visibility database}"

schema() {
  database=$1
  schema_name=$2
  temporal-sql-tool --database "$database" create-database
  temporal-sql-tool --database "$database" setup-schema --version 0.0
  temporal-sql-tool --database "$database" update-schema --schema-name "$schema_name"
}

schema "$TEMPORAL_DB" postgresql/v12/temporal
schema "$TEMPORAL_VISIBILITY_DB" postgresql/v12/visibility
echo "Temporal's schemas are current in $TEMPORAL_DB and $TEMPORAL_VISIBILITY_DB"
