//! `cargo xtask guests`: fetches the Debian arm64 pieces guests are made of into the cache.

use crate::debian::{Debian, DebianError};

/// Fetches the kernel Image, busybox and the Raspberry Pi 4 device tree; prints their paths.
pub fn guests() -> Result<(), DebianError> {
    let mut debian = Debian::new();
    let kernel = debian.kernel_image()?;
    let busybox = debian.busybox()?;
    let dtb = debian.board_dtb(&boards::RPI4)?;
    println!("kernel Image: {}", kernel.display());
    println!("busybox:      {}", busybox.display());
    if let Some(dtb) = dtb {
        println!("Pi 4 DTB:     {}", dtb.display());
    }
    Ok(())
}
