//! Sets of host CPU ids, as `hard-affinity` lists them, held in a fixed-size bitmap.

use crate::limits::MAX_HOST_CPUS;

const WORDS: usize = MAX_HOST_CPUS.div_ceil(64);

/// A set of CPU ids below [`MAX_HOST_CPUS`]. However many ranges a list has, and however
/// they overlap, the set takes the same space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuSet([u64; WORDS]);

impl CpuSet {
    /// Parses a Xen-style list of ids and inclusive ranges (`"0-3,5"`); `None` when it is
    /// malformed or names an id of [`MAX_HOST_CPUS`] or more.
    pub fn parse(text: &str) -> Option<Self> {
        let mut set = Self::default();
        for part in text.split(',').map(str::trim) {
            let (low, high): (usize, usize) = match part.split_once('-') {
                Some((l, h)) => (l.trim().parse().ok()?, h.trim().parse().ok()?),
                None => {
                    let v = part.parse().ok()?;
                    (v, v)
                }
            };
            if low > high || high >= MAX_HOST_CPUS {
                return None;
            }
            for cpu in low..=high {
                set.0[cpu / 64] |= 1 << (cpu % 64);
            }
        }
        Some(set)
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: usize) -> bool {
        self.0
            .get(cpu / 64)
            .is_some_and(|word| word & (1 << (cpu % 64)) != 0)
    }

    /// The ids in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MAX_HOST_CPUS).filter(|cpu| self.contains(*cpu))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|word| *word == 0)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn ranges_overlap_into_one_set() {
        let set = CpuSet::parse("0-3, 2-5,9").expect("valid");
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5, 9]);
        assert!(CpuSet::parse("3-1").is_none());
        assert!(CpuSet::parse("").is_none());
        assert!(CpuSet::parse(&alloc::format!("0-{MAX_HOST_CPUS}")).is_none());
        let last = CpuSet::parse(&alloc::format!("{}", MAX_HOST_CPUS - 1)).expect("valid");
        assert!(last.contains(MAX_HOST_CPUS - 1) && !last.is_empty());
    }
}
