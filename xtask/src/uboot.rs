//! `cargo xtask image --u-boot`: the U-Boot script that loads the hypervisor and each
//! partition module at its address and starts the hypervisor with `booti` and the tree the
//! firmware handed U-Boot (the partitions' overlay applied), compiled by `mkimage`.

use std::path::Path;
use std::process::Command;

use dom0less_config::authoring::Compiled;
use dom0less_config::devicetree::{decode_pairs, Tree};

use crate::shell;

/// The script's source, kept in the folder to read and edit (`mkimage` turns it into [`SCRIPT`]).
pub const SOURCE: &str = "boot.cmd";
/// The script U-Boot's distro boot finds on the boot partition.
pub const SCRIPT: &str = "boot.scr";
/// The folder of the module files.
pub const MODULES_DIR: &str = "modules";

/// One module as a file of the folder.
#[derive(Debug, PartialEq, Eq)]
pub struct ModuleFile<'a> {
    /// Path in the folder: `modules/DOMAIN-KIND.bin`.
    pub name: String,
    /// Its host address.
    pub address: u64,
    pub bytes: &'a [u8],
}

/// What a module node holds, from its `compatible`.
fn kind(tree: &Tree, node: dom0less_config::devicetree::NodeId) -> &'static str {
    let n = tree.node(node);
    if n.is_compatible("multiboot,kernel") {
        "kernel"
    } else if n.is_compatible("multiboot,ramdisk") {
        "ramdisk"
    } else if n.is_compatible("multiboot,device-tree") {
        "dtb"
    } else {
        "module"
    }
}

/// Each module of the compiled config once (a module shared by several partitions is one
/// file), named after the first partition that uses it, in address order.
pub fn module_files(compiled: &Compiled) -> Vec<ModuleFile<'_>> {
    let tree = &compiled.tree;
    let mut files: Vec<ModuleFile<'_>> = Vec::new();
    for node in tree.compatible("multiboot,module") {
        let Some(domain) = tree.node(node).parent() else { continue };
        let cells = |name: &str, default: u32| {
            tree.node(domain).property(name).and_then(|p| p.u32().ok()).unwrap_or(default)
        };
        let Some(reg) = tree.node(node).property("reg") else { continue };
        let Ok(ranges) = decode_pairs(reg, cells("#address-cells", 2), cells("#size-cells", 1)) else {
            continue;
        };
        let Some(range) = ranges.first() else { continue };
        if files.iter().any(|f| f.address == range.start()) {
            continue;
        }
        let Some((_, bytes)) = compiled.modules.iter().find(|(r, _)| r.start() == range.start()) else {
            continue;
        };
        files.push(ModuleFile {
            name: format!("{MODULES_DIR}/{}-{}.bin", tree.node(domain).name(), kind(tree, node)),
            address: range.start(),
            bytes,
        });
    }
    files.sort_by_key(|f| f.address);
    files
}

/// Where each file is loaded from: the partition U-Boot found the script on.
const FROM: &str = "${devtype} ${devnum}:${distro_bootpart}";

/// The script's source: each file loaded at its address from the partition U-Boot booted
/// from, then `booti` with the firmware's tree.
pub fn script(kernel_name: &str, kernel_address: u64, modules: &[ModuleFile<'_>]) -> String {
    let mut text = String::from(
        "# Bulkhead hypervisor, started by U-Boot (written by `cargo xtask image --u-boot`; turn an\n\
         # edited copy into boot.scr with `mkimage -A arm64 -T script -C none -d boot.cmd boot.scr`).\n\
         # The firmware applied overlays/bulkhead.dtbo (the partitions) to its own tree and handed it\n\
         # over at ${fdt_addr}; each module goes to the address that tree gives it.\n\
         # U-Boot's distro boot sets devtype, devnum and distro_bootpart; run by hand, the SD card.\n\
         if test -z \"${devtype}\"; then setenv devtype mmc; setenv devnum 0; setenv distro_bootpart 1; fi\n",
    );
    text.push_str(&format!("load {FROM} {kernel_address:#x} {kernel_name}\n"));
    for module in modules {
        text.push_str(&format!("load {FROM} {:#x} {}\n", module.address, module.name));
    }
    text.push_str(&format!("booti {kernel_address:#x} - ${{fdt_addr}}\n"));
    text
}

/// Compiles the script source `source` into the U-Boot image `out` with `mkimage`.
pub fn mkimage(source: &Path, out: &Path) -> Result<(), String> {
    shell::output(
        Command::new("mkimage")
            .args(["-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n", "Bulkhead"])
            .arg("-d")
            .arg(source)
            .arg(out),
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dom0less_config::devicetree::AddressRange;

    fn compiled() -> Compiled {
        // Two domains sharing one kernel, one with a ramdisk.
        let mut tree = Tree::new();
        let root = tree.root();
        let chosen = tree.add_node(root, "chosen");
        let mut modules = Vec::new();
        for (domain, entries) in [
            ("linux", &[("multiboot,kernel", 0x2000_0000u64), ("multiboot,ramdisk", 0x2200_0000)][..]),
            ("other", &[("multiboot,kernel", 0x2000_0000)][..]),
        ] {
            let d = tree.add_node(chosen, domain);
            tree.set_property(d, "#address-cells", dom0less_config::devicetree::cells_value(&[2]));
            tree.set_property(d, "#size-cells", dom0less_config::devicetree::cells_value(&[2]));
            for (compatible, address) in entries {
                let m = tree.add_node(d, &format!("module@{address:x}"));
                tree.set_property(
                    m,
                    "compatible",
                    dom0less_config::devicetree::strings_value(&[compatible, "multiboot,module"]),
                );
                tree.set_property(m, "reg", dom0less_config::devicetree::cells_value(&[0, *address as u32, 0, 4]));
                modules.push((AddressRange::new(*address, 4).unwrap(), vec![1, 2, 3, 4]));
            }
        }
        Compiled { tree, modules }
    }

    #[test]
    fn each_module_is_one_file_named_after_its_first_partition() {
        let compiled = compiled();
        let files = module_files(&compiled);
        let names: Vec<(&str, u64)> = files.iter().map(|f| (f.name.as_str(), f.address)).collect();
        assert_eq!(
            names,
            [("modules/linux-kernel.bin", 0x2000_0000), ("modules/linux-ramdisk.bin", 0x2200_0000)]
        );
    }

    #[test]
    fn the_script_loads_everything_then_boots_with_the_firmware_tree() {
        let compiled = compiled();
        let text = script("bulkhead8.img", 0x20_0000, &module_files(&compiled));
        let commands: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            &commands[1..],
            [
                "load ${devtype} ${devnum}:${distro_bootpart} 0x200000 bulkhead8.img",
                "load ${devtype} ${devnum}:${distro_bootpart} 0x20000000 modules/linux-kernel.bin",
                "load ${devtype} ${devnum}:${distro_bootpart} 0x22000000 modules/linux-ramdisk.bin",
                "booti 0x200000 - ${fdt_addr}",
            ]
        );
    }
}
