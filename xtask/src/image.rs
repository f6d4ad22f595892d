//! `cargo xtask image`: an SD-card boot folder for a real Raspberry Pi 4 (the firmware loads
//! the hypervisor as a 64-bit kernel at EL2, and applies the partitions as an overlay to its
//! own device tree).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use boards::{Board, Packaging};

use crate::build::{self, BuildError};
use crate::workspace::Profile;

/// Files of the Raspberry Pi firmware the user copies next to ours: the firmware, its tree of
/// the board (which carries the `__symbols__` our overlay's fixups need) and the overlay that
/// gives the PL011 the console pins.
pub const FIRMWARE_FILES: &[&str] = &[
    "start4.elf",
    "fixup4.dat",
    "bcm2711-rpi-4-b.dtb",
    "overlays/disable-bt.dtbo",
];

/// Why the folder was not written.
#[derive(Debug)]
pub enum ImageTaskError {
    UnknownBoard(String),
    /// The board is not booted by the Raspberry Pi firmware.
    NotFirmwareBooted {
        board: &'static str,
    },
    Build(BuildError),
    /// The partition config could not be compiled onto the board's tree or is invalid.
    Config { file: PathBuf, message: String },
    /// `mkimage` (Debian's u-boot-tools) could not be installed or failed.
    BootScript(String),
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl fmt::Display for ImageTaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageTaskError::UnknownBoard(b) => write!(f, "unknown board `{b}`"),
            ImageTaskError::NotFirmwareBooted { board } => write!(
                f,
                "board `{board}` boots the arm64 Image directly (QEMU -kernel, U-Boot booti): `cargo xtask build` \
                 makes it; there is no SD-card folder to write"
            ),
            ImageTaskError::Build(e) => write!(f, "{e}"),
            ImageTaskError::Config { file, message } => write!(f, "{}: {message}", file.display()),
            ImageTaskError::BootScript(e) => write!(f, "U-Boot script (--u-boot): {e}"),
            ImageTaskError::Io { path, source } => write!(f, "{path}: {source}"),
        }
    }
}

impl std::error::Error for ImageTaskError {}

/// The overlay the folder holds, `overlays/NAME.dtbo`, which `dtoverlay=NAME` applies: the
/// partitions under `/chosen`.
pub const OVERLAY_NAME: &str = "bulkhead";
/// The partitions' modules packed into the one file the firmware loads at a fixed address.
pub const MODULES_NAME: &str = "modules.bin";
/// The RAM the firmware gives the ARM cores on every Pi 4 (1 GiB model, default GPU memory):
/// the config is validated against it; the firmware writes the real `/memory` at boot.
pub const PI4_MIN_RAM: (u64, u64) = (0, 0x3b40_0000);

/// How the firmware hands over: straight to the hypervisor, or to U-Boot's `boot.scr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    /// The firmware loads the hypervisor and the packed modules itself.
    Firmware,
    /// The firmware starts U-Boot (`u-boot.bin`), whose `boot.scr` loads each file.
    UBoot,
}

/// The overlay's path in the folder.
pub fn overlay_path() -> String {
    format!("overlays/{OVERLAY_NAME}.dtbo")
}

/// `config.txt` for the firmware: 64-bit, the PL011 on the pins, the partitions' overlay on
/// the firmware's own tree, and either our kernel and the packed modules at their addresses
/// or U-Boot.
pub fn config_txt(kernel_name: &str, kernel_address: u64, modules_address: Option<u64>, loader: Loader) -> String {
    let mut text = String::from(
        "# Bulkhead hypervisor: the firmware starts it as a 64-bit kernel at EL2.\n\
         arm_64bit=1\n\
         # The hypervisor's console is the PL011 (UART0): give it GPIO 14/15 instead of Bluetooth.\n\
         enable_uart=1\n\
         dtoverlay=disable-bt\n",
    );
    text.push_str(&format!(
        "# The partitions (Xen's dom0less binding) added to /chosen of the firmware's\n\
         # bcm2711-rpi-4-b.dtb: {}, written by `cargo xtask image --config`.\n\
         dtoverlay={OVERLAY_NAME}\n",
        overlay_path()
    ));
    match loader {
        Loader::Firmware => {
            text.push_str(&format!("kernel={kernel_name}\nkernel_address={kernel_address:#x}\n"));
            if let Some(address) = modules_address {
                text.push_str(&format!(
                    "# The partitions' kernels and modules, at the addresses the overlay gives.\n\
                     initramfs {MODULES_NAME} {address:#x}\n"
                ));
            }
        }
        Loader::UBoot => text.push_str(
            "# U-Boot (Debian's u-boot-rpi, rpi_arm64/u-boot.bin) runs boot.scr, which loads the\n\
             # hypervisor and each module and starts it with this tree.\n\
             kernel=u-boot.bin\n",
        ),
    }
    text
}

/// Packs modules (host range, bytes) into one file that starts at the lowest address, the
/// gaps zero-filled. `None` when there are none.
pub fn pack_modules(modules: &[(dom0less_config::devicetree::AddressRange, Vec<u8>)]) -> Option<(u64, Vec<u8>)> {
    let start = modules.iter().map(|(r, _)| r.start()).min()?;
    let mut out = Vec::new();
    let mut sorted: Vec<_> = modules.iter().collect();
    sorted.sort_by_key(|(r, _)| r.start());
    for (range, bytes) in sorted {
        let offset = usize::try_from(range.start() - start).ok()?;
        if out.len() < offset {
            out.resize(offset, 0);
        }
        // The config's modules do not overlap (the validator checks) unless one is shared,
        // which is the same bytes at the same place.
        let end = offset + bytes.len();
        if out.len() < end {
            out.resize(end, 0);
        }
        out[offset..end].copy_from_slice(bytes);
    }
    Some((start, out))
}

/// The board's tree (Debian's, with `/memory` set to the RAM every Pi 4 has) and the config
/// (TOML) compiled onto it, validated with the modules' bytes and the hypervisor's place.
fn partitions(
    config: &Path,
    board: &Board,
    image_size: u64,
    kernel_address: u64,
    profile: Profile,
) -> Result<(dom0less_config::devicetree::Tree, dom0less_config::authoring::Compiled), ImageTaskError> {
    use dom0less_config::devicetree::{cells_value, AddressRange, Tree};
    let fail = |message: String| ImageTaskError::Config { file: config.to_path_buf(), message };
    let mut debian = crate::debian::Debian::new();
    let dtb = debian
        .board_dtb(board)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail(String::from("the board has no firmware device tree")))?;
    let bytes = fs::read(&dtb).map_err(|e| fail(format!("{}: {e}", dtb.display())))?;
    let mut host = Tree::parse(&bytes).map_err(|e| fail(format!("{}: {e}", dtb.display())))?;
    let memory = host.find("/memory@0").or_else(|| host.find("/memory"));
    let memory = memory.unwrap_or_else(|| {
        let root = host.root();
        host.add_node(root, "memory@0")
    });
    host.set_property(memory, "device_type", b"memory\0".to_vec());
    let (start, size) = PI4_MIN_RAM;
    let cells = [(start >> 32) as u32, start as u32, size as u32];
    host.set_property(memory, "reg", cells_value(&cells));
    let text = fs::read_to_string(config).map_err(|e| fail(e.to_string()))?;
    let guests = crate::build::guests(profile).map_err(ImageTaskError::Build)?;
    let linux = if crate::partitions::merge::names_linux(&text) {
        Some(crate::linux::guest(&mut debian).map_err(|e| fail(e.to_string()))?.dir)
    } else {
        None
    };
    let compiled = crate::partitions::merge::compile_toml(&text, &host, &guests, linux.as_deref())
        .map_err(|e| fail(e.to_string()))?;
    let facts = dom0less_config::HostFacts {
        hypervisor: AddressRange::new(kernel_address, image_size).unwrap_or_default(),
        boot_cpu_mpidr: None,
        modules: Some(&compiled),
    };
    if let Err(errors) = dom0less_config::PartitionPlan::from_tree(&compiled.tree, &facts) {
        let list: Vec<String> = errors.iter().map(|e| format!("\n  error: {e}")).collect();
        return Err(fail(format!("the config is invalid:{}", list.concat())));
    }
    Ok((host, compiled))
}

/// The README placed in the folder.
pub fn readme(board: &Board, kernel_name: &str, loader: Loader) -> String {
    let mut text = format!(
        "Bulkhead hypervisor boot folder for the {model}\n\n\
         Copy everything in this folder to the FAT32 boot partition of an SD card, then copy these files\n\
         from the boot/ folder of the Raspberry Pi firmware (the raspberrypi/firmware repository, or the\n\
         boot partition of a Raspberry Pi OS image) next to them, keeping the overlays/ subfolder:\n\n",
        model = board.model
    );
    for file in FIRMWARE_FILES {
        text.push_str(&format!("  {file}\n"));
    }
    let overlay = overlay_path();
    match loader {
        Loader::Firmware => text.push_str(&format!(
            "\nThe firmware reads config.txt, loads its own device tree bcm2711-rpi-4-b.dtb and applies\n\
             {overlay} to it (the partitions under /chosen, in Xen's dom0less binding), loads\n\
             {kernel_name} at 0x200000 and {MODULES_NAME} (the partitions' kernels and modules, packed at the\n\
             address config.txt gives), and starts the hypervisor at EL2 with that tree.\n"
        )),
        Loader::UBoot => text.push_str(&format!(
            "  u-boot.bin (Debian's u-boot-rpi package: /usr/lib/u-boot/rpi_arm64/u-boot.bin)\n\n\
             The firmware reads config.txt, loads its own device tree bcm2711-rpi-4-b.dtb, applies\n\
             {overlay} to it (the partitions under /chosen, in Xen's dom0less binding) and starts\n\
             U-Boot, which runs boot.scr (source: boot.cmd): it loads {kernel_name} at 0x200000 and each\n\
             module from modules/ at the address the overlay gives, then starts the hypervisor with\n\
             booti and the firmware's tree.\n"
        )),
    }
    text.push_str(&format!(
        "Secondary cores wait in the firmware's spin table until the hypervisor releases them. The\n\
         console is UART0 on GPIO 14 (TX, pin 8) and GPIO 15 (RX, pin 10): 115200 8N1, 3.3 V levels.\n\
         It shows the hypervisor's banner, then each partition's output as (name) lines.\n\n\
         To change the partitions, run `cargo xtask image --board rpi4 --config FILE.toml --out DIR` again\n\
         and copy {overlay}, the modules and config.txt (the hypervisor itself does not change).\n"
    ));
    text
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ImageTaskError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|source| ImageTaskError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    fs::write(path, bytes).map_err(|source| ImageTaskError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Builds the hypervisor and writes the boot folder `out` for `board`, with the partitions
/// of `config` (a TOML file; the board's demo when `None`), started by the firmware or by
/// U-Boot.
pub fn image(
    board: &str,
    out: &Path,
    config: Option<&Path>,
    profile: Profile,
    loader: Loader,
) -> Result<PathBuf, ImageTaskError> {
    let board = Board::by_name(board).ok_or_else(|| ImageTaskError::UnknownBoard(board.into()))?;
    let Packaging::RaspberryPiFirmware {
        kernel_name,
        kernel_address,
        ..
    } = board.packaging
    else {
        return Err(ImageTaskError::NotFirmwareBooted { board: board.name });
    };
    let image = build::build(profile).map_err(ImageTaskError::Build)?;
    let demo = crate::workspace::root().join("demo").join(format!("{}.toml", board.name));
    let config = config.map_or(demo, Path::to_path_buf);
    let kernel = fs::read(&image).map_err(|source| ImageTaskError::Io {
        path: image.display().to_string(),
        source,
    })?;
    let image_size = crate::partitions::placement::image_size(&kernel).unwrap_or(0);
    let (host, compiled) = partitions(&config, board, image_size, kernel_address, profile)?;
    let overlay = dom0less_config::authoring::overlay(&host, &compiled.tree).map_err(|e| ImageTaskError::Config {
        file: config.clone(),
        message: e.to_string(),
    })?;
    let script = match loader {
        Loader::UBoot => {
            crate::prereq::ensure_mkimage()
                .map_err(|e| ImageTaskError::BootScript(e.to_string()))?;
            Some(crate::uboot::script(kernel_name, kernel_address, &crate::uboot::module_files(&compiled)))
        }
        Loader::Firmware => None,
    };
    // A folder written before may hold the other loader's files: remove those (only ours).
    for stale in [MODULES_NAME, crate::uboot::SOURCE, crate::uboot::SCRIPT, crate::uboot::MODULES_DIR] {
        let path = out.join(stale);
        let removed = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        match removed {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                return Err(ImageTaskError::Io { path: path.display().to_string(), source })
            }
            _ => {}
        }
    }
    write(&out.join(kernel_name), &kernel)?;
    write(&out.join(overlay_path()), &overlay.to_dtb())?;
    let packed = pack_modules(&compiled.modules);
    match loader {
        Loader::Firmware => {
            if let Some((_, bytes)) = &packed {
                write(&out.join(MODULES_NAME), bytes)?;
            }
        }
        Loader::UBoot => {
            for file in crate::uboot::module_files(&compiled) {
                write(&out.join(&file.name), file.bytes)?;
            }
        }
    }
    if let Some(script) = &script {
        write(&out.join(crate::uboot::SOURCE), script.as_bytes())?;
        crate::uboot::mkimage(&out.join(crate::uboot::SOURCE), &out.join(crate::uboot::SCRIPT))
            .map_err(ImageTaskError::BootScript)?;
    }
    write(
        &out.join("config.txt"),
        config_txt(kernel_name, kernel_address, packed.as_ref().map(|(a, _)| *a), loader).as_bytes(),
    )?;
    write(&out.join("README.txt"), readme(board, kernel_name, loader).as_bytes())?;
    println!(
        "xtask: wrote {} for the Raspberry Pi firmware{}: {kernel_name}, {} (the partitions of {}), the modules, config.txt, README.txt",
        out.display(),
        if loader == Loader::UBoot { " and U-Boot (boot.scr)" } else { "" },
        overlay_path(),
        config.display()
    );
    if overlay.find("/__fixups__").is_some() {
        println!(
            "xtask: the overlay names CPUs of the board by label (cpu0...): the firmware's own \
             bcm2711-rpi-4-b.dtb has them in its __symbols__; a tree without __symbols__ (Debian's \
             kernel's) cannot take it"
        );
    }
    println!("xtask: copy these firmware files next to them: {}", FIRMWARE_FILES.join(", "));
    Ok(out.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi4_kernel() -> (&'static str, u64) {
        let Packaging::RaspberryPiFirmware {
            kernel_name,
            kernel_address,
            ..
        } = boards::RPI4.packaging
        else {
            panic!("the Pi 4 is firmware-booted");
        };
        (kernel_name, kernel_address)
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn config_txt_applies_the_overlay_and_starts_a_64_bit_kernel_at_its_address() {
        let (kernel_name, kernel_address) = pi4_kernel();
        let text = config_txt(kernel_name, kernel_address, Some(0x2000_0000), Loader::Firmware);
        let lines = lines(&text);
        assert!(lines.contains(&"arm_64bit=1"));
        assert!(lines.contains(&format!("kernel={kernel_name}").as_str()));
        assert!(lines.contains(&"kernel_address=0x200000"));
        assert!(lines.contains(&"dtoverlay=bulkhead"));
        assert!(lines.contains(&"initramfs modules.bin 0x20000000"));
        assert!(!text.contains("device_tree="), "the firmware's own tree is used");
    }

    #[test]
    fn config_txt_for_u_boot_starts_u_boot_and_loads_no_modules() {
        let (kernel_name, kernel_address) = pi4_kernel();
        let text = config_txt(kernel_name, kernel_address, Some(0x2000_0000), Loader::UBoot);
        let lines = lines(&text);
        assert!(lines.contains(&"kernel=u-boot.bin") && lines.contains(&"dtoverlay=bulkhead"));
        assert!(!lines.iter().any(|l| l.starts_with("initramfs") || l.starts_with("kernel_address")));
    }

    #[test]
    fn modules_are_packed_from_the_lowest_address_with_zero_gaps() {
        use dom0less_config::devicetree::AddressRange;
        let range = |a, s| AddressRange::new(a, s).unwrap();
        let modules = vec![
            (range(0x2000_0010, 2), vec![7, 8]),
            (range(0x2000_0000, 3), vec![1, 2, 3]),
            (range(0x2000_0000, 3), vec![1, 2, 3]),
        ];
        let (start, bytes) = pack_modules(&modules).unwrap();
        assert_eq!(start, 0x2000_0000);
        assert_eq!(bytes.len(), 0x12);
        assert_eq!(&bytes[..4], &[1, 2, 3, 0]);
        assert_eq!(&bytes[0x10..], &[7, 8]);
        assert_eq!(pack_modules(&[]), None);
    }

    #[test]
    fn readme_names_every_firmware_file_and_the_overlay() {
        for loader in [Loader::Firmware, Loader::UBoot] {
            let text = readme(&boards::RPI4, "bulkhead8.img", loader);
            assert!(text.contains("overlays/bulkhead.dtbo"));
            for file in FIRMWARE_FILES {
                assert!(text.contains(&format!("  {file}\n")), "{file}");
            }
            assert!(text.contains("Raspberry Pi 4 Model B"));
            assert_eq!(text.contains("u-boot.bin"), loader == Loader::UBoot);
            assert_eq!(text.contains(MODULES_NAME), loader == Loader::Firmware);
        }
    }

    #[test]
    fn boards_without_firmware_packaging_are_refused() {
        let error = image("virt", Path::new("unused"), None, Profile::Debug, Loader::Firmware).unwrap_err();
        assert!(
            matches!(error, ImageTaskError::NotFirmwareBooted { board: "virt" }),
            "{error}"
        );
    }
}
