//! `cargo xtask image --u-boot`: the U-Boot script that loads the hypervisor and each
//! partition module at its address and starts the hypervisor with `booti` and the tree the
//! firmware handed U-Boot (the partitions' overlay applied), compiled by `mkimage`; and an
//! SD-card image of such a folder (a partition table and a FAT32 file system made by
//! mtools, no root needed), which `cargo xtask test` boots through U-Boot.

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

/// Where the SD card's one partition starts: 1 MiB in, as partitioning tools align it.
pub const PARTITION_START_SECTOR: u32 = 2048;
const SECTOR: u64 = 512;

/// The master boot record of a card image of `total_sectors` with one bootable FAT32 (LBA)
/// partition from [`PARTITION_START_SECTOR`] to the end: the one entry at offset 446
/// (status 0x80, CHS fields saturated as for LBA-only disks, type 0x0c, first sector,
/// sector count) and the 0x55 0xaa signature. U-Boot's distro boot looks for its script on
/// partition 1 of a partitioned card; a bare FAT image it reports as "No partition table".
pub fn master_boot_record(total_sectors: u32) -> [u8; 512] {
    let mut mbr = [0u8; 512];
    let count = total_sectors.saturating_sub(PARTITION_START_SECTOR);
    let entry = &mut mbr[446..462];
    entry[0] = 0x80;
    entry[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
    entry[4] = 0x0c;
    entry[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    entry[8..12].copy_from_slice(&PARTITION_START_SECTOR.to_le_bytes());
    entry[12..16].copy_from_slice(&count.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    mbr
}

/// The card image's size for a folder of `bytes`: twice its size with 16 MiB to spare,
/// rounded up to a MiB, and at least 64 MiB (FAT32 wants some 65,000 clusters).
pub fn card_size(bytes: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    bytes.saturating_mul(2).saturating_add(16 * MIB).div_ceil(MIB).saturating_mul(MIB).max(64 * MIB)
}

fn folder_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total = total.saturating_add(if meta.is_dir() { folder_bytes(&entry.path())? } else { meta.len() });
    }
    Ok(total)
}

/// Writes `card`, an SD-card image whose one FAT32 partition holds everything in `folder`,
/// without root: the partition table is written here, the file system made and filled by
/// mtools (`mformat`, `mcopy`) inside the image at the partition's offset.
pub fn sd_card(folder: &Path, card: &Path) -> Result<(), String> {
    let size = card_size(folder_bytes(folder).map_err(|e| format!("{}: {e}", folder.display()))?);
    let sectors = u32::try_from(size / SECTOR).map_err(|_| format!("a card of {size} bytes is too large for its partition table"))?;
    let mut file = std::fs::File::create(card).map_err(|e| format!("{}: {e}", card.display()))?;
    file.set_len(size).map_err(|e| format!("{}: {e}", card.display()))?;
    std::io::Write::write_all(&mut file, &master_boot_record(sectors)).map_err(|e| format!("{}: {e}", card.display()))?;
    drop(file);
    let partition = format!("{}@@{}", card.display(), u64::from(PARTITION_START_SECTOR) * SECTOR);
    let fat_sectors = sectors.saturating_sub(PARTITION_START_SECTOR);
    shell::output(
        Command::new("mformat")
            .args(["-i", &partition, "-F", "-v", "BULKHEAD"])
            .args(["-T", &fat_sectors.to_string(), "-h", "64", "-s", "32", "-H", &PARTITION_START_SECTOR.to_string()])
            .arg("::"),
    )
    .map_err(|e| format!("mformat (mtools) on {}: {e}", card.display()))?;
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| format!("{}: {e}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    shell::output(Command::new("mcopy").args(["-i", &partition, "-s", "-o"]).args(&entries).arg("::/"))
        .map(drop)
        .map_err(|e| format!("mcopy (mtools) into {}: {e}", card.display()))
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
    fn the_card_has_one_bootable_fat32_partition_from_one_mib_to_its_end() {
        let mbr = master_boot_record(131_072);
        assert_eq!(&mbr[510..], [0x55, 0xaa]);
        let entry = &mbr[446..462];
        assert_eq!((entry[0], entry[4]), (0x80, 0x0c));
        assert_eq!(u32::from_le_bytes(entry[8..12].try_into().unwrap()), 2048);
        assert_eq!(u32::from_le_bytes(entry[12..16].try_into().unwrap()), 131_072 - 2048);
        assert!(mbr[462..510].iter().all(|&b| b == 0), "one entry only");
        assert!(mbr[..446].iter().all(|&b| b == 0), "no boot code");
    }

    #[test]
    fn the_card_is_sized_from_the_folder() {
        assert_eq!(card_size(1 << 20), 64 << 20);
        assert_eq!(card_size(40 << 20), 96 << 20);
        assert_eq!(card_size((40 << 20) + 1), 97 << 20);
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
