#!/bin/bash
# The runner's entry point: set up the simulated network, wait for the simulator, then
# run the client with the runner's variables (ROLE, TESTCASE, REQUESTS, DOWNLOADS,
# SSLKEYLOGFILE, QLOGDIR). plexus is a client only: ROLE=server exits 127.
set -e
/setup.sh
if [ "$ROLE" != "client" ]; then
    echo "plexus-interop is a client; role $ROLE is not supported"
    exit 127
fi
/wait-for-it.sh sim:57832 -s -t 30
exec /usr/local/bin/plexus-interop
