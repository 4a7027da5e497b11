#!/usr/bin/env bash
# Turns a fresh `debootstrap --variant=minbase` tree into the root filesystem
# of berth's local base image, following what Docker's official Debian images
# do (debuerreotype): apt/dpkg settings for containers, no daemons started on
# install, no caches, package lists, logs, docs or host identity in the image.
#
# usage: finish-rootfs.sh ROOTFS SOURCES
#   SOURCES: a deb822 apt sources file (built by build.sh from the host's apt
#   configuration) installed as /etc/apt/sources.list.d/debian.sources.
#
# Part of the base image's recipe: build.sh hashes this directory, so editing
# this file or rootfs/ rebuilds the base image (and then every image on it).
set -euo pipefail

rootfs=$1
sources=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ -x "$rootfs/usr/bin/apt-get" ] || { echo "finish-rootfs: $rootfs is not a Debian tree" >&2; exit 1; }

# container-friendly apt/dpkg configuration, policy-rc.d
cp -R --preserve=mode "$here/rootfs/." "$rootfs/"

# apt sources usable from inside containers (bookworm's deb822 layout, as in
# the official image); debootstrap's one-line sources.list is replaced by it.
rm -f "$rootfs/etc/apt/sources.list"
install -D -m 0644 "$sources" "$rootfs/etc/apt/sources.list.d/debian.sources"

# no caches, no package lists: every image runs apt-get update itself
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/*
mkdir -p "$rootfs/var/lib/apt/lists/partial"
rm -f "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old

# slim: the same paths the dpkg excludes in rootfs/ keep out of later installs
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 -depth -type d -empty -delete 2>/dev/null || true
for d in man groff info linda lintian/overrides locale; do
	rm -rf "${rootfs:?}/usr/share/$d/"*
done

# nothing of the build host: Docker provides hostname, hosts and resolv.conf
rm -f "$rootfs/etc/resolv.conf"
: > "$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$rootfs/etc/hosts"
[ ! -e "$rootfs/etc/machine-id" ] || : > "$rootfs/etc/machine-id"
find "$rootfs/var/log" -type f -delete
rm -rf "${rootfs:?}/debootstrap" "$rootfs"/tmp/* "$rootfs"/var/tmp/*
