#!/bin/sh
# Harness self-test: two failing assertions among passing ones, arguments and
# environment passed in. run-guest.sh must exit 2.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
check "passes" true
check "fails on purpose (1)" false
expect_rc 3 "expect_rc sees exit 3" sh -c 'exit 3'
expect_rc 0 "fails on purpose (2)" sh -c 'exit 4'
expect_out_contains "arguments arrive intact" "arg1=[a b] arg2=[it's]" echo "arg1=[$1] arg2=[$2]"
expect_out_contains "--env arrives" "SELFTEST_VALUE=[x y]" echo "SELFTEST_VALUE=[${SELFTEST_VALUE:-unset}]"
expect_file /etc/selftest-file "--file arrives"
expect_no_file /nonexistent
done_testing
