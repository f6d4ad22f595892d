//! An in-place heap sort for the validator and the hypervisor.
//!
//! `core`'s sorts are fast on large inputs, but each element type they are used with becomes
//! several kilobytes of machine code (a quicksort, a small-sort network and a fallback), and the
//! hypervisor image carried one such copy per call site: about 40 KB of its code. What is sorted
//! here comes from a config or a board (CPUs, memory ranges, device-tree nodes), small lists
//! read once at boot. A heap sort takes O(n log n) comparisons whatever the input, needs no
//! allocation, and is a few hundred bytes per element type. It is not stable: callers whose
//! equal keys must keep their order sort by a key that tells them apart.

/// Sorts `items` so that no element is `less` than the one before it.
pub fn sort_by<T>(items: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    let len = items.len();
    // Make a max-heap: every parent is not less than its children.
    let mut parent = len / 2;
    while parent > 0 {
        parent -= 1;
        sift_down(items, parent, len, &mut less);
    }
    // Move the largest to the end, one at a time, and repair the heap in front of it.
    let mut end = len;
    while end > 1 {
        end -= 1;
        items.swap(0, end);
        sift_down(items, 0, end, &mut less);
    }
}

/// Sorts `items` in ascending order.
pub fn sort<T: Ord>(items: &mut [T]) {
    sort_by(items, |a, b| a < b);
}

/// Sorts `items` by ascending `key`.
pub fn sort_by_key<T, K: Ord>(items: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(items, |a, b| key(a) < key(b));
}

/// Moves `items[root]` down until neither child within `..end` is greater.
fn sift_down<T>(items: &mut [T], mut root: usize, end: usize, less: &mut impl FnMut(&T, &T) -> bool) {
    loop {
        // A child index past `usize` cannot be inside the slice.
        let Some(mut child) = root.checked_mul(2).and_then(|c| c.checked_add(1)) else { return };
        if child >= end {
            return;
        }
        if let (Some(left), Some(right)) = (items.get(child), items.get(child.saturating_add(1))) {
            if child.saturating_add(1) < end && less(left, right) {
                child = child.saturating_add(1);
            }
        }
        match (items.get(root), items.get(child)) {
            (Some(r), Some(c)) if less(r, c) => items.swap(root, child),
            _ => return,
        }
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A small deterministic generator (xorshift), so the cases repeat.
    fn numbers(seed: u64, count: usize, modulo: u64) -> Vec<u64> {
        let mut x = seed | 1;
        (0..count)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % modulo
            })
            .collect()
    }

    #[test]
    fn sorts_like_core_for_every_length_and_many_duplicates() {
        for len in 0..70 {
            for (seed, modulo) in [(1, 1000), (7, 3), (99, 1)] {
                let mut ours = numbers(seed + len as u64, len, modulo);
                let mut expected = ours.clone();
                expected.sort();
                sort(&mut ours);
                assert_eq!(ours, expected, "length {len}, values below {modulo}");
            }
        }
    }

    #[test]
    fn sorted_and_reversed_inputs() {
        let mut up: Vec<u32> = (0..1000).collect();
        let expected = up.clone();
        sort(&mut up);
        assert_eq!(up, expected);
        let mut down: Vec<u32> = (0..1000).rev().collect();
        sort(&mut down);
        assert_eq!(down, expected);
    }

    #[test]
    fn by_key_with_a_tie_breaker_gives_the_stable_order() {
        // (key, original position): sorting by both is what a stable sort by key gives.
        let keys = numbers(5, 200, 4);
        let mut pairs: Vec<(u64, usize)> = keys.iter().copied().zip(0..).collect();
        let mut expected = pairs.clone();
        expected.sort_by_key(|&(k, _)| k);
        sort_by_key(&mut pairs, |&(k, i)| (k, i));
        assert_eq!(pairs, expected);
    }

    #[test]
    fn descending_through_sort_by() {
        let mut v = numbers(11, 300, 50);
        sort_by(&mut v, |a, b| a > b);
        assert!(v.windows(2).all(|w| w[0] >= w[1]));
    }
}
