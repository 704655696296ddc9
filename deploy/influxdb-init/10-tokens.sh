#!/bin/sh
# InfluxDB 2's first start (the influxdb image runs this after its setup,
# with the admin token): a token for each client with the least it needs,
# written to the tokens volume that the exporter and Grafana mount
# read-only.
#   exporter.token  may write the flespi bucket, nothing else
#   grafana.token   may read the flespi bucket, nothing else
# The admin token (INFLUXDB_TOKEN in .env) stays with InfluxDB alone.
set -eu

org=${DOCKER_INFLUXDB_INIT_ORG:?}
bucket=${DOCKER_INFLUXDB_INIT_BUCKET:?}
dir=${FLESPI_TOKENS_DIR:-/tokens}

bucket_id=$(influx bucket list --org "$org" --name "$bucket" --hide-headers | cut -f1)
if [ -z "$bucket_id" ]; then
	echo "10-tokens.sh: no bucket $bucket in org $org" >&2
	exit 1
fi

# token reads the token out of `influx auth create --json`.
token() {
	sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' | head -n 1
}

write=$(influx auth create --org "$org" --write-bucket "$bucket_id" \
	--description "flespi-exporter: write $bucket" --json | token)
read=$(influx auth create --org "$org" --read-bucket "$bucket_id" \
	--description "grafana: read $bucket" --json | token)
if [ -z "$write" ] || [ -z "$read" ] || [ "$write" = "$read" ]; then
	echo "10-tokens.sh: influx auth create gave no tokens" >&2
	exit 1
fi

mkdir -p "$dir"
umask 022 # the exporter (uid 65532) and Grafana (uid 472) read them
printf '%s\n' "$write" > "$dir/exporter.token.tmp" && mv "$dir/exporter.token.tmp" "$dir/exporter.token"
printf '%s\n' "$read" > "$dir/grafana.token.tmp" && mv "$dir/grafana.token.tmp" "$dir/grafana.token"
echo "10-tokens.sh: write-only and read-only tokens for bucket $bucket in $dir"
