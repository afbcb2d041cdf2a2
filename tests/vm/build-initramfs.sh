#!/bin/bash
# Build the cached base initramfs of the qemu guest: BUILD/initramfs/base.cpio.gz
# (cpio newc, gzip). Rebuilt only when an input changed (sha256 of every file
# that goes in, of the layout and of this script).
#
# Usage: build-initramfs.sh [--build-dir DIR] [--standin KO] [--bin SRC[=DEST]]...
#   --standin KO  the KLIPS stand-in (default BUILD/klips-standin/ipsec.ko),
#                 installed as /lib/modules/$KVER/extra/ipsec.ko
#   --bin SRC[=DEST]
#                 an extra program, with its shared libraries and the dynamic
#                 loader (ldd closure); DEST defaults to /usr/bin/NAME. A
#                 busybox applet of the same name is removed so the program wins.
#                 Its debug info is stripped in the image.
#
# Contents: busybox-static (applet links), kmod as /sbin/{modprobe,insmod,rmmod,
# lsmod,depmod,modinfo}, the module closure of the IPsec modules and of the
# crypto an ESP test may need (modprobe -S $KVER --show-depends), the stand-in,
# depmod'ed; /init from guest/init.sh.
set -eu -o pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

# Modules the suite needs: missing ones are an error. virtio_pci, virtio_blk and ext4 (modules
# in Debian's kernel) let /init mount the disk a scenario may get (run-guest.sh --disk).
REQUIRED_MODULES=(af_key esp4 ah4 esp6 ah6 xfrm_user xfrm4_tunnel xfrm6_tunnel
	ipcomp ipcomp6 tunnel4 dummy virtio_pci virtio_blk ext4)
# Modules that may be built in or absent (crypto for ESP tests, the other
# native-stack modules a module list might name).
OPTIONAL_MODULES=(authenc cbc aes_generic aesni_intel sha1_generic sha256_generic
	sha512_generic hmac echainiv seqiv gcm ghash-generic ctr des_generic md5
	cryptd crypto_null xfrm_ipcomp xfrm_interface ip_vti ip6_vti tunnel6
	esp4_offload esp6_offload)

build=$(vm_default_build_dir)
standin=
bins=()
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir)
		build=$2
		shift 2
		;;
	--standin)
		standin=$2
		shift 2
		;;
	--bin)
		bins+=("$2")
		shift 2
		;;
	*) vm_die "build-initramfs.sh: unknown argument $1" ;;
	esac
done
mkdir -p "$build"
build=$(cd "$build" && pwd)
[ -n "$standin" ] || standin=$build/klips-standin/ipsec.ko
[ -f "$standin" ] || vm_die "stand-in module $standin is missing (run tests/vm/build-standin.sh)"

vm_kernel_init || vm_die "no usable kernel (see above)"
vm_need_cmd cpio cpio
vm_need_cmd gzip gzip
vm_need_cmd depmod kmod
vm_need_cmd strip binutils
[ -x /bin/busybox ] || vm_die "/bin/busybox missing (package busybox-static)"
/bin/busybox --list-full >/dev/null || vm_die "/bin/busybox cannot list its applets"
# A dynamic busybox would need libraries the image does not carry.
if ldd /bin/busybox >/dev/null 2>&1; then
	vm_die "/bin/busybox is dynamically linked (install busybox-static)"
fi
KMOD_BIN=$(command -v kmod) || vm_die "kmod not found (package kmod)"

vm_lock "$build"
out=$build/initramfs
mkdir -p "$out"

# --- collect the inputs ------------------------------------------------------
# files: "SRC DEST" lines, DEST absolute inside the image.
files=()
add_file() { files+=("$1 $2"); }

# ldd_closure BIN: print the shared libraries and loader BIN needs (host paths).
ldd_closure() {
	local lines
	if ! lines=$(ldd "$1" 2>&1); then
		case $lines in
		*"not a dynamic executable"* | *"statically linked"*) return 0 ;;
		*) vm_die "ldd $1 failed: $lines" ;;
		esac
	fi
	printf '%s\n' "$lines" | awk '
		/not found/ { print "MISSING " $1; next }
		$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// { print $1 }'
}

add_program() { # add_program SRC DEST
	local src=$1 dest=$2 lib
	if [ ! -f "$src" ] || [ ! -x "$src" ]; then
		vm_die "program $src does not exist or is not executable"
	fi
	add_file "$src" "$dest"
	while read -r lib; do
		[ -n "$lib" ] || continue
		case $lib in MISSING*) vm_die "$src needs a library that is not installed: ${lib#MISSING }" ;; esac
		add_file "$lib" "$lib"
	done < <(ldd_closure "$src")
}

add_program /bin/busybox /bin/busybox
add_program "$KMOD_BIN" /bin/kmod
add_file "$VM_SRC_DIR/guest/init.sh" /init
add_file "$standin" "/lib/modules/$KVER/extra/ipsec.ko"

extra_dests=()
for spec in "${bins[@]}"; do
	src=${spec%%=*}
	if [ "$src" = "$spec" ]; then
		dest=/usr/bin/$(basename "$src")
	else
		dest=${spec#*=}
	fi
	case $dest in /*) ;; *) vm_die "--bin $spec: destination must be absolute" ;; esac
	add_program "$(readlink -f "$src")" "$dest"
	extra_dests+=("$dest")
done

# Module closure, computed by the host's modprobe against KVER's tree.
declare -A mods=()
builtin_list=()
absent_list=()
closure() { # closure NAME REQUIRED(0|1)
	local name=$1 required=$2 lines rc=0 line path
	lines=$(modprobe -S "$KVER" --show-depends "$name" 2>&1) || rc=$?
	if [ "$rc" != 0 ]; then
		if [ "$required" = 1 ]; then
			vm_die "module $name is not available for $KVER: $lines"
		fi
		absent_list+=("$name")
		return 0
	fi
	while read -r line; do
		case $line in
		"insmod "*)
			path=${line#insmod }
			path=${path%% *}
			mods[$path]=1
			;;
		"builtin "*) builtin_list+=("${line#builtin }") ;;
		esac
	done <<<"$lines"
}
for m in "${REQUIRED_MODULES[@]}"; do closure "$m" 1; done
for m in "${OPTIONAL_MODULES[@]}"; do closure "$m" 0; done
for path in "${!mods[@]}"; do
	case $path in
	"$KMODDIR"/*) add_file "$path" "$path" ;;
	*) vm_die "module path outside $KMODDIR: $path" ;;
	esac
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
	[ -f "$KMODDIR/$f" ] || vm_die "$KMODDIR/$f is missing"
	add_file "$KMODDIR/$f" "$KMODDIR/$f"
done

# --- cache key -----------------------------------------------------------------
mapfile -t files < <(printf '%s\n' "${files[@]}" | LC_ALL=C sort -u)
key=$(
	{
		echo "kver $KVER"
		echo "layout-version 2"
		sha256sum "$0" "$VM_SRC_DIR/common.sh" "$VM_SRC_DIR/kernel.sh" | cut -d' ' -f1
		for spec in "${files[@]}"; do
			src=${spec%% *}
			printf '%s %s\n' "${spec#* }" "$(sha256sum "$src" | cut -d' ' -f1)"
		done
	} | sha256sum | cut -d' ' -f1
)
if [ -f "$out/base.cpio.gz" ] && [ "$(cat "$out/base.key" 2>/dev/null)" = "$key" ]; then
	vm_log "initramfs up to date: $out/base.cpio.gz"
	exit 0
fi

# --- build -----------------------------------------------------------------------
vm_log "building the initramfs for $KVER (${#mods[@]} modules, ${#bins[@]} extra programs)"
t0=$SECONDS
stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc/modprobe.d,proc,sys,dev,run,tmp,var/lib,root}
ln -s ../run "$root/var/run"

for spec in "${files[@]}"; do
	src=${spec%% *}
	dest=${spec#* }
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$src" "$root$dest"
done
chmod 0755 "$root/init"
# The extra programs come from build trees with debug info (stackmgr is about 100 MB so): the
# guest needs none of it, and a few such copies would not fit into its memory.
for dest in "${extra_dests[@]}"; do
	strip --strip-debug "$root$dest" || vm_die "strip --strip-debug $dest failed"
done

# kmod's tools first, so that the busybox applets below never replace them.
for t in modprobe insmod rmmod lsmod depmod modinfo; do
	ln -sf /bin/kmod "$root/sbin/$t"
done
while read -r applet; do
	if [ -e "$root/$applet" ] || [ -L "$root/$applet" ]; then
		continue
	fi
	mkdir -p "$root/$(dirname "$applet")"
	ln -s /bin/busybox "$root/$applet"
done < <(/bin/busybox --list-full)
# An applet elsewhere on PATH must not shadow kmod or an extra program.
shadowed=(modprobe insmod rmmod lsmod depmod modinfo)
for dest in "${extra_dests[@]}"; do shadowed+=("$(basename "$dest")"); done
for name in "${shadowed[@]}"; do
	for d in bin sbin usr/bin usr/sbin; do
		p=$root/$d/$name
		if [ -L "$p" ] && [ "$(readlink "$p")" = /bin/busybox ]; then
			rm -f "$p"
		fi
	done
done
for t in sh false true; do
	[ -e "$root/bin/$t" ] || vm_die "/bin/$t missing from the image"
done

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'stackmgr-vm\n' >"$root/etc/hostname"
: >"$root/etc/fstab"
{
	echo "kver=$KVER"
	echo "modules=${#mods[@]}"
	echo "builtin=${builtin_list[*]}"
	echo "absent=${absent_list[*]}"
	echo "extra=${extra_dests[*]}"
} >"$root/etc/stackmgr-vm-image"

depmod -b "$root" "$KVER"
[ -s "$root$KMODDIR/modules.dep" ] || vm_die "depmod produced no modules.dep"
grep -q '^extra/ipsec.ko:' "$root$KMODDIR/modules.dep" || vm_die "the stand-in is not in modules.dep"

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
	gzip -n -6 >"$stage/base.cpio.gz"
mv "$stage/base.cpio.gz" "$out/base.cpio.gz"
printf '%s\n' "$key" >"$out/base.key"
cp "$root/etc/stackmgr-vm-image" "$out/image-info"
vm_log "initramfs built in $((SECONDS - t0)) s: $out/base.cpio.gz ($(du -h "$out/base.cpio.gz" | cut -f1))"
[ ${#builtin_list[@]} -eq 0 ] || vm_log "built in (not copied): ${builtin_list[*]}"
[ ${#absent_list[@]} -eq 0 ] || vm_log "not available (skipped): ${absent_list[*]}"
