#!/bin/sh
# libjoule_mpi on one machine: 4 ranks that all open the same 2 simulated
# GPUs must yield 2 GPUs' energy, not 8; with JOULE_MPI_FAKE_NODES=2 the
# ranks form two pretend nodes and the job holds 4. Skips (77) without
# mpirun. CI runs as root, which OpenMPI refuses unless told.
set -u
CHECK=$1
command -v mpirun >/dev/null || { echo "skipped: mpirun not found (apt-get install openmpi-bin)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Loopback only: no network probing on machines without interfaces.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
unset JOULE_DEVICES JOULE_SIM_LOAD JOULE_MPI_FAKE_NODES
mpirun --oversubscribe -np 4 "$CHECK" 1 || { echo "one node: FAILED"; exit 1; }
mpirun --oversubscribe -np 4 -x JOULE_MPI_FAKE_NODES=2 "$CHECK" 2 || { echo "two pretend nodes: FAILED"; exit 1; }
echo "mpi job totals: passed"
