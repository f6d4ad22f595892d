//! The instruction-counting QEMU plugin (`xtask/plugin/insn_marks.c`): built with the
//! machine's gcc at bench time, given to QEMU, and its output read back as samples: the
//! instructions one CPU executed between two of the guest's markers (`hint #0x7f`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::prereq::{self, PrereqError};
use crate::shell::{self, ShellError};
use crate::workspace;

/// The plugin's source, from the workspace root.
const SOURCE: &str = "xtask/plugin/insn_marks.c";
/// What starts each of the plugin's sample lines.
const PREFIX: &str = "insn_marks: ";

/// Why the plugin could not be built.
#[derive(Debug)]
pub enum PluginError {
    Prereq(PrereqError),
    Compile(ShellError),
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::Prereq(e) => write!(f, "the instruction-counting plugin needs gcc: {e}"),
            PluginError::Compile(e) => write!(f, "building the instruction-counting plugin: {e}"),
        }
    }
}

impl std::error::Error for PluginError {}

/// Builds the plugin into `out` (installing Debian's `gcc` if it is missing) and returns the
/// shared object's path.
pub fn build(out: &Path) -> Result<PathBuf, PluginError> {
    prereq::ensure_program("gcc", "gcc").map_err(PluginError::Prereq)?;
    let library = out.join("libinsn_marks.so");
    let source = workspace::root().join(SOURCE);
    shell::run(
        Command::new("gcc")
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&library)
            .arg(&source),
    )
    .map_err(PluginError::Compile)?;
    Ok(library)
}

/// QEMU options that load the plugin and send its output (QEMU's `plugin` log) to `log`.
pub fn qemu_args(library: &Path, log: &Path) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    vec!["-plugin".into(), path(library), "-d".into(), "plugin".into(), "-D".into(), path(log)]
}

/// The same with the plugin in its `total=on` mode: every marker prints the instructions all
/// CPUs executed from reset up to it.
pub fn total_args(library: &Path, log: &Path) -> Vec<String> {
    let mut args = qemu_args(library, log);
    args[1].push_str(",total=on");
    args
}

/// What all CPUs executed from reset to a marker (`insn_marks: cpu=N total=K`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Total {
    /// The CPU that executed the marker.
    pub cpu: u32,
    pub instructions: u64,
}

/// The `total=on` lines in the order the plugin printed them; other lines are skipped.
pub fn parse_totals(text: &str) -> Result<Vec<Total>, BadLine> {
    text.lines()
        .filter_map(|line| Some((line, line.strip_prefix(PREFIX)?)))
        .map(|(line, rest)| {
            let mut words = rest.split_whitespace();
            let mut number = |key: &str| words.next()?.strip_prefix(key)?.parse::<u64>().ok();
            match (number("cpu="), number("total="), words.next()) {
                (Some(cpu), Some(instructions), None) => {
                    Ok(Total { cpu: u32::try_from(cpu).map_err(|_| BadLine(line.into()))?, instructions })
                }
                _ => Err(BadLine(line.into())),
            }
        })
        .collect()
}

/// One sample: what CPU `cpu` (QEMU's index, from 0) executed between two markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub cpu: u32,
    pub instructions: u64,
}

/// A plugin line that does not read `insn_marks: cpu=N insns=K`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine(pub String);

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin line {:?} is not `{PREFIX}cpu=N insns=K`", self.0)
    }
}

/// The samples in the order the plugin printed them; lines without the prefix are QEMU's
/// own and are skipped.
pub fn parse(text: &str) -> Result<Vec<Sample>, BadLine> {
    text.lines()
        .filter_map(|line| Some((line, line.strip_prefix(PREFIX)?)))
        .map(|(line, rest)| {
            let mut words = rest.split_whitespace();
            let mut number = |key: &str| words.next()?.strip_prefix(key)?.parse().ok();
            match (number("cpu="), number("insns="), words.next()) {
                (Some(cpu), Some(instructions), None) => {
                    Ok(Sample { cpu: u32::try_from(cpu).map_err(|_| BadLine(line.into()))?, instructions })
                }
                _ => Err(BadLine(line.into())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_in_order_and_other_lines_skipped() {
        let text = "insn_marks: cpu=1 insns=2\nqemu: some warning\ninsn_marks: cpu=1 insns=245\n";
        assert_eq!(
            parse(text).unwrap(),
            [Sample { cpu: 1, instructions: 2 }, Sample { cpu: 1, instructions: 245 }]
        );
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in ["insn_marks: cpu=1", "insn_marks: cpu=x insns=2", "insn_marks: cpu=1 insns=2 more"] {
            assert_eq!(parse(line), Err(BadLine(line.into())), "{line}");
        }
    }

    #[test]
    fn qemu_loads_the_plugin_and_logs_its_output_to_a_file() {
        let args = qemu_args(Path::new("/p/lib.so"), Path::new("/l/x.log"));
        assert_eq!(args, ["-plugin", "/p/lib.so", "-d", "plugin", "-D", "/l/x.log"]);
        let args = total_args(Path::new("/p/lib.so"), Path::new("/l/x.log"));
        assert_eq!(args, ["-plugin", "/p/lib.so,total=on", "-d", "plugin", "-D", "/l/x.log"]);
    }

    #[test]
    fn totals_are_read_and_pair_lines_refused() {
        let text = "qemu: warning\ninsn_marks: cpu=1 total=925295917\n";
        assert_eq!(parse_totals(text).unwrap(), [Total { cpu: 1, instructions: 925_295_917 }]);
        let pair = "insn_marks: cpu=1 insns=2";
        assert_eq!(parse_totals(pair), Err(BadLine(pair.into())));
    }
}
