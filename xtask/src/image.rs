//! `cargo xtask image`: an SD-card boot folder for a real Raspberry Pi 4 (the firmware loads
//! the hypervisor as a 64-bit kernel at EL2).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use boards::{Board, Packaging};

use crate::build::{self, BuildError};
use crate::workspace::Profile;

/// Files of the Raspberry Pi firmware the user copies next to ours.
pub const FIRMWARE_FILES: &[&str] = &["start4.elf", "fixup4.dat", "overlays/disable-bt.dtbo"];

/// Why the folder was not written.
#[derive(Debug)]
pub enum ImageTaskError {
    UnknownBoard(String),
    /// The board is not booted by the Raspberry Pi firmware.
    NotFirmwareBooted {
        board: &'static str,
    },
    Build(BuildError),
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
            ImageTaskError::Io { path, source } => write!(f, "{path}: {source}"),
        }
    }
}

impl std::error::Error for ImageTaskError {}

/// `config.txt` for the firmware: 64-bit, our kernel at its address, the PL011 on the pins.
pub fn config_txt(kernel_name: &str, kernel_address: u64) -> String {
    format!(
        "# Bulkhead hypervisor: the firmware starts it as a 64-bit kernel at EL2.\n\
         arm_64bit=1\n\
         kernel={kernel_name}\n\
         kernel_address={kernel_address:#x}\n\
         # The hypervisor's console is the PL011 (UART0): give it GPIO 14/15 instead of Bluetooth.\n\
         enable_uart=1\n\
         dtoverlay=disable-bt\n"
    )
}

/// The README placed in the folder.
pub fn readme(board: &Board, kernel_name: &str, dtb_name: &str) -> String {
    let mut text = format!(
        "Bulkhead hypervisor boot folder for the {model}\n\n\
         Copy everything in this folder to the FAT32 boot partition of an SD card, then copy these files\n\
         from the boot/ folder of the Raspberry Pi firmware (the raspberrypi/firmware repository, or the\n\
         boot partition of a Raspberry Pi OS image) next to them, keeping the overlays/ subfolder:\n\n",
        model = board.model
    );
    for file in FIRMWARE_FILES.iter().copied().chain([dtb_name]) {
        text.push_str(&format!("  {file}\n"));
    }
    text.push_str(&format!(
        "\nThe firmware reads config.txt, loads {kernel_name} and the device tree {dtb_name}, and starts the\n\
         hypervisor at EL2; secondary cores wait in the firmware's spin table until the hypervisor\n\
         releases them. The console is UART0 on GPIO 14 (TX, pin 8) and GPIO 15 (RX, pin 10): 115200 8N1,\n\
         3.3 V levels.\n"
    ));
    text
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ImageTaskError> {
    fs::write(path, bytes).map_err(|source| ImageTaskError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Builds the hypervisor and writes the boot folder `out` for `board`.
pub fn image(board: &str, out: &Path, profile: Profile) -> Result<PathBuf, ImageTaskError> {
    let board = Board::by_name(board).ok_or_else(|| ImageTaskError::UnknownBoard(board.into()))?;
    let Packaging::RaspberryPiFirmware {
        kernel_name,
        kernel_address,
        dtb_name,
    } = board.packaging
    else {
        return Err(ImageTaskError::NotFirmwareBooted { board: board.name });
    };
    let image = build::build(profile).map_err(ImageTaskError::Build)?;
    fs::create_dir_all(out).map_err(|source| ImageTaskError::Io {
        path: out.display().to_string(),
        source,
    })?;
    let kernel = fs::read(&image).map_err(|source| ImageTaskError::Io {
        path: image.display().to_string(),
        source,
    })?;
    write(&out.join(kernel_name), &kernel)?;
    write(
        &out.join("config.txt"),
        config_txt(kernel_name, kernel_address).as_bytes(),
    )?;
    write(
        &out.join("README.txt"),
        readme(board, kernel_name, dtb_name).as_bytes(),
    )?;
    println!(
        "xtask: wrote {} with {kernel_name}, config.txt and README.txt",
        out.display()
    );
    println!(
        "xtask: copy these firmware files next to them: {}, {dtb_name}",
        FIRMWARE_FILES.join(", ")
    );
    Ok(out.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_txt_starts_a_64_bit_kernel_at_its_address() {
        let Packaging::RaspberryPiFirmware {
            kernel_name,
            kernel_address,
            ..
        } = boards::RPI4.packaging
        else {
            panic!("the Pi 4 is firmware-booted");
        };
        let text = config_txt(kernel_name, kernel_address);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(lines.contains(&"arm_64bit=1"));
        assert!(lines.contains(&format!("kernel={kernel_name}").as_str()));
        assert!(lines.contains(&"kernel_address=0x200000"));
    }

    #[test]
    fn readme_names_every_firmware_file() {
        let text = readme(&boards::RPI4, "bulkhead8.img", "bcm2711-rpi-4-b.dtb");
        for file in FIRMWARE_FILES.iter().chain(&["bcm2711-rpi-4-b.dtb"]) {
            assert!(text.contains(&format!("  {file}\n")), "{file}");
        }
        assert!(text.contains("Raspberry Pi 4 Model B"));
    }

    #[test]
    fn boards_without_firmware_packaging_are_refused() {
        let error = image("virt", Path::new("unused"), Profile::Debug).unwrap_err();
        assert!(
            matches!(error, ImageTaskError::NotFirmwareBooted { board: "virt" }),
            "{error}"
        );
    }
}
