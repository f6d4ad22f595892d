//! Errors: the Xen errno a guest's event-channel call answers, and the build-time errors of
//! static channels.

use core::fmt;

/// A Xen errno (`public/errno.h`); the hypercall returns it negated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Errno {
    Eperm = 1,
    Enoent = 2,
    Esrch = 3,
    Eagain = 11,
    Enomem = 12,
    Eacces = 13,
    Efault = 14,
    Ebusy = 16,
    Eexist = 17,
    Einval = 22,
    Enospc = 28,
    Enosys = 38,
    Eopnotsupp = 95,
}

impl Errno {
    /// The value the guest sees in x0.
    pub const fn to_return(self) -> i64 {
        -(self as i64)
    }
}

/// Why a static event channel of the configuration could not be bound before the partitions
/// started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaticChannelError {
    /// A port is out of the partition's range or already taken.
    Port {
        /// Partition index (`/chosen` order).
        partition: usize,
        /// The port asked for.
        port: u32,
        /// What Xen would have answered.
        errno: Errno,
        /// The partition's highest port.
        max_port: u32,
    },
    /// The channel names a partition the tables do not have.
    NoSuchPartition { partition: usize, remote: usize },
}

impl fmt::Display for StaticChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Port {
                partition,
                port,
                errno,
                max_port,
            } => write!(
                f,
                "static event channel port {port} of partition {partition} cannot be bound \
                 ({errno:?}): use a port from 1 to {max_port} that no other channel of the \
                 partition uses"
            ),
            Self::NoSuchPartition { partition, remote } => write!(
                f,
                "static event channel of partition {partition} names partition {remote}, which \
                 has no event-channel table: build one table per partition of the plan"
            ),
        }
    }
}
