#!/bin/sh
# production_conf.sh IN OUT: the esupd.conf that meson install (and so the Debian package)
# puts in /etc/esup: IN with [server] user = esup and [database] owner_conninfo naming
# esup_admin over the default socket. Fails when IN lacks either line it replaces, so a change
# to config/esupd.conf cannot silently ship a configuration without them.
set -eu
in=$1
out=$2
for line in '^user =$' '^owner_conninfo =$'; do
	if [ "$(grep -c "$line" "$in")" != 1 ]; then
		echo "production_conf.sh: $in: expected exactly one line matching '$line'" >&2
		exit 1
	fi
done
sed -e 's/^user =$/user = esup/' \
    -e 's|^owner_conninfo =$|owner_conninfo = host=/var/run/postgresql dbname=esup user=esup_admin|' \
    "$in" > "$out.tmp"
mv "$out.tmp" "$out"
