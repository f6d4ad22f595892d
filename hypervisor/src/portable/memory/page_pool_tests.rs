use super::*;
use crate::portable::memory::AddressRange;

fn pool(ram: u64, caps: &[usize]) -> PagePool<8> {
    let frames = FrameAllocator::<8>::new(&[AddressRange::new(0x4000_0000, ram).unwrap()], &[]).unwrap();
    PagePool::new(frames, caps).unwrap()
}

#[test]
fn pages_are_charged_to_their_owner_up_to_its_cap() {
    let mut pool = pool(0x10_0000, &[2, 1]);
    let a = pool.take(0).unwrap();
    let b = pool.take(0).unwrap();
    assert_ne!(a, b);
    assert!(a.is_multiple_of(PAGE_SIZE) && b.is_multiple_of(PAGE_SIZE));
    assert_eq!(pool.take(0), Err(PoolError::Cap { owner: 0, cap: 2 }));
    assert!(pool.take(1).is_ok(), "another owner's cap is its own");
    assert_eq!(pool.take(2), Err(PoolError::NoOwner { owner: 2 }));
    assert_eq!(pool.account(0), Some(Account { held: 2, peak: 2, cap: 2 }));
    assert!(pool.give(0, a));
    assert_eq!(pool.take(0), Ok(a), "a page given back is handed out first");
    assert_eq!(pool.account(0).unwrap().peak, 2);
}

#[test]
fn a_page_given_back_by_an_owner_holding_none_is_refused() {
    let mut pool = pool(0x10_0000, &[1, 1]);
    let a = pool.take(0).unwrap();
    assert!(!pool.give(1, a), "owner 1 holds nothing");
    assert!(pool.give(0, a));
    assert!(!pool.give(0, a), "owner 0 gave its one page back already");
}

#[test]
fn host_ram_running_out_is_an_error_not_a_panic() {
    let mut pool = pool(0x2000, &[8]);
    let before = pool.free_bytes();
    assert_eq!(before, 0x2000);
    pool.take(0).unwrap();
    pool.take(0).unwrap();
    assert_eq!(pool.take(0), Err(PoolError::Exhausted { owner: 0 }));
    assert_eq!(pool.free_bytes(), 0);
    assert_eq!(pool.account(0).unwrap().held, 2, "a refused take charges nothing");
}

#[test]
fn the_free_list_never_grows_past_the_caps() {
    let mut pool = pool(0x100_0000, &[3, 2]);
    for _ in 0..100 {
        let pages: Vec<(usize, u64)> = [0, 0, 0, 1, 1].iter().map(|&o| (o, pool.take(o).unwrap())).collect();
        for (o, p) in pages {
            assert!(pool.give(o, p));
        }
    }
    assert_eq!(pool.free_bytes(), 0x100_0000, "every page came back");
    assert!(pool.free.len() <= 5);
    assert_eq!(pool.free.capacity(), 5, "giving back never allocated");
}
