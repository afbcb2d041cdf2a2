#!/bin/sh
# The stackmgr binary runs in the guest: it is at /usr/sbin/stackmgr with its
# shared libraries (ldd closure copied into the image). Registered only when
# the build has a "stackmgr" target. A template for stackmgr scenarios: the
# behaviour of the commands themselves belongs in scenarios of their own.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"

S=/usr/sbin/stackmgr

expect_file "$S" "stackmgr is installed at $S"
expect_rc 0 "stackmgr --help runs (its libraries resolve in the guest)" "$S" --help
expect_rc 0 "stackmgr --version runs" "$S" --version
# Recorded, not judged here: what detect says on a clean guest and with the stand-in.
run "$S" detect
fact "stackmgr detect, clean guest" "exit $VM_RC"
run /sbin/modprobe ipsec
run "$S" detect
fact "stackmgr detect, stand-in loaded" "exit $VM_RC"
run /sbin/rmmod ipsec
expect_no_kernel_errors
done_testing
