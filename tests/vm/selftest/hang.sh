#!/bin/sh
# Harness self-test: the scenario never ends; run-guest.sh must give up at its
# timeout with 124.
echo "about to hang"
while :; do sleep 1; done
