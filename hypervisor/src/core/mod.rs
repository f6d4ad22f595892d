//! Portable hypervisor logic: partitions, vCPUs, schedulers, virtual devices.
