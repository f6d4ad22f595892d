//! The device trees QEMU boots with, dumped by QEMU itself (`-machine ...,dumpdtb=FILE`), and
//! conversions between tree source and blob with `dtc`.

use std::path::Path;
use std::process::Command;

use qemu_tests::command::QEMU;

use crate::shell::{self, ShellError};

/// The QEMU arguments that write the machine's device tree to `file` and exit: `args` with
/// `dumpdtb=FILE` added to the `-machine` value, so every other option stays the same.
/// `None` when `args` has no `-machine`.
pub fn dump_args(args: &[String], file: &Path) -> Option<Vec<String>> {
    let at = args.iter().position(|a| a == "-machine")? + 1;
    let mut dumping = args.to_vec();
    let machine = dumping.get_mut(at)?;
    machine.push_str(&format!(",dumpdtb={}", file.display()));
    Some(dumping)
}

/// Runs QEMU with arguments from [`dump_args`]. QEMU applies its own changes to a `-dtb`
/// file (`/memory`, `/chosen`) before it dumps, so the result is what the hypervisor is given.
pub fn dump(dumping: &[String]) -> Result<(), ShellError> {
    // In the workspace root, as the scenarios' QEMU runs: their arguments name files from there.
    shell::output(Command::new(QEMU).current_dir(crate::workspace::root()).args(dumping)).map(drop)
}

/// Device tree source of the blob at `dtb`.
pub fn decompile(dtb: &Path) -> Result<String, ShellError> {
    shell::output(
        Command::new("dtc")
            .args(["-q", "-I", "dtb", "-O", "dts"])
            .arg(dtb),
    )
}

/// Compiles the source at `dts` into a blob at `dtb`.
pub fn compile(dts: &Path, dtb: &Path) -> Result<(), ShellError> {
    shell::output(
        Command::new("dtc")
            .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
            .arg(dtb)
            .arg(dts),
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumpdtb_joins_the_machine_options() {
        let args: Vec<String> = [
            "-machine",
            "virt,virtualization=on,gic-version=2",
            "-smp",
            "4",
        ]
        .map(String::from)
        .to_vec();
        let dumping = dump_args(&args, Path::new("out/host.dtb")).unwrap();
        assert_eq!(
            dumping,
            [
                "-machine",
                "virt,virtualization=on,gic-version=2,dumpdtb=out/host.dtb",
                "-smp",
                "4"
            ]
        );
        assert_eq!(dump_args(&args[2..], Path::new("x")), None);
    }
}
