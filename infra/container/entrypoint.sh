#!/bin/sh
# Starts sshd (so that mpirun on the main node can start ranks here), picks the
# MPI transport, then runs the cloudrun worker for the job's run.
set -eu

/usr/sbin/sshd

# EFA instances expose a libfabric provider: use it through Open MPI's OFI layer.
# Elsewhere ranks talk over TCP on the instance's network.
if [ -e /dev/infiniband/uverbs0 ] && [ -z "${CLOUDRUN_MPIRUN_ARGS:-}" ]; then
  export CLOUDRUN_MPIRUN_ARGS="--mca pml cm --mca mtl ofi"
fi
export CLOUDRUN_MPIRUN_ARGS="${CLOUDRUN_MPIRUN_ARGS:---mca btl tcp,self,vader}"

exec /usr/local/bin/cloudrun-worker "$@"
