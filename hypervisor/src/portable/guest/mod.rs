//! Guest boot: the Xen-compatible guest physical layout, arm64 Image headers, module placement,
//! the guest device tree and vCPU0's entry state.
//!
//! Images built for Xen dom0less domUs boot unchanged: the guest sees RAM, the GIC, the SBSA UART
//! and the grant-table window where Xen puts them, and its modules where Xen places them.

pub mod boot;
pub mod dtb;
pub mod image;
pub mod layout;
pub mod passthrough;
pub mod placement;
