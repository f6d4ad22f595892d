//! Loads FILE arguments: `.dtb` as is, `.dts` through `dtc`, `.toml` compiled onto a host tree.

use std::path::Path;
use std::process::Command;

use dom0less_config::authoring::{self, Compiled, Document};
use dom0less_config::devicetree::{AddressRange, Tree};
use dom0less_config::{authoring::parse_number, HostFacts, ModuleSource};

/// A loaded configuration.
pub struct Loaded {
    /// The host tree with the dom0less nodes.
    pub tree: Tree,
    /// Module contents when the source was TOML.
    pub modules: Option<Compiled>,
}

/// Compiles device tree source with `dtc`.
fn dtc(path: &str, from: &str, to: &str) -> Result<Vec<u8>, String> {
    let output = Command::new("dtc")
        .args(["-q", "-I", from, "-O", to, "-o", "-", path])
        .output()
        .map_err(|e| {
            format!("cannot run dtc ({e}); install the Debian package device-tree-compiler")
        })?;
    if !output.status.success() {
        return Err(format!(
            "dtc failed on {path}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output.stdout)
}

/// Turns a blob into source text with `dtc`.
pub fn to_dts(blob: &[u8]) -> Result<Vec<u8>, String> {
    let dir = std::env::temp_dir().join(format!("dom0less-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("out.dtb");
    std::fs::write(&path, blob).map_err(|e| e.to_string())?;
    let result = dtc(&path.to_string_lossy(), "dtb", "dts");
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn read_tree(path: &str) -> Result<Tree, String> {
    let bytes = if path.ends_with(".dts") {
        dtc(path, "dts", "dtb")?
    } else {
        std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?
    };
    crate::parse_tree(&bytes, path)
}

/// Whether device tree source is a fragment (no `/dts-v1/;` header): the partitions of a
/// board, to be merged into its host tree, as the demos and the test scenarios are written.
pub fn is_fragment(source: &str) -> bool {
    !source.contains("/dts-v1/;")
}

/// What to do about a fragment given without a host tree.
const FRAGMENT_HELP: &str = "it has no /dts-v1/; header, so it is a fragment of a board's tree (the partitions under /chosen), not a whole device tree, and no host tree was given for it to extend. Name the board with --board virt (QEMU virt) or --board rpi4 (Raspberry Pi 4) to use the built-in tree, or give the board's own tree with --host HOST (.dtb or .dts): for QEMU virt, the tree QEMU makes (`qemu-system-aarch64 -machine virt,virtualization=on,gic-version=3,dumpdtb=host.dtb -cpu cortex-a72 -smp 4 -m 2G`); for a Raspberry Pi 4, the firmware's bcm2711-rpi-4-b.dtb";

/// What to do about a TOML config given without a host tree.
const TOML_HELP: &str = "a .toml config is compiled onto the board's device tree: name the board with --board virt or --board rpi4 (built-in trees), or give its tree with --host HOST (.dtb or .dts)";

/// The host tree a config extends: a file, a built-in board tree, or none given.
#[derive(Clone, Copy, Debug)]
pub enum Host<'a> {
    /// `--host FILE`.
    File(&'a str),
    /// `--board NAME`.
    Board(&'a str),
    /// Neither.
    None,
}

impl Host<'_> {
    /// The tree, and a name for messages; `None` when no host was given.
    fn tree(&self) -> Result<Option<(Tree, String)>, String> {
        match *self {
            Host::File(path) => Ok(Some((read_tree(path)?, String::from(path)))),
            Host::Board(board) => {
                let tree = dom0less_config::authoring::board_trees::host_tree(board).ok_or_else(|| {
                    format!(
                        "--board {board}: no built-in tree for this board; use one of {} or give --host HOST",
                        dom0less_config::authoring::board_trees::BOARDS.join(", ")
                    )
                })?;
                Ok(Some((tree, format!("the built-in {board} tree"))))
            }
            Host::None => Ok(None),
        }
    }
}

/// The host tree alone (the base an overlay is written against).
pub fn host_tree(host: Host<'_>) -> Result<Tree, String> {
    host.tree()?
        .map(|(tree, _)| tree)
        .ok_or_else(|| String::from("--overlay needs the board's tree the overlay extends: --board or --host"))
}

/// Merges a fragment into the host tree's source (the fragment last, so that dtc resolves
/// its references to host nodes) and compiles the result.
fn merge_fragment(path: &str, source: &str, host_tree: &Tree, host: &str) -> Result<Tree, String> {
    let host_source = to_dts(&host_tree.to_dtb())?;
    let merged = format!("{}\n{}", String::from_utf8_lossy(&host_source), source);
    let dir = std::env::temp_dir().join(format!("dom0less-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join("merged.dts");
    std::fs::write(&file, merged).map_err(|e| e.to_string())?;
    let result = dtc(&file.to_string_lossy(), "dts", "dtb")
        .map_err(|e| format!("{path} merged into {host}: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    crate::parse_tree(&result?, path)
}

/// Loads FILE; a `.toml` or a `.dts` fragment needs a host tree.
pub fn load(path: &str, host: Host<'_>) -> Result<Loaded, String> {
    if path.ends_with(".dts") {
        let source = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        if is_fragment(&source) {
            let (host_tree, host_name) = host.tree()?.ok_or_else(|| format!("{path}: {FRAGMENT_HELP}"))?;
            return Ok(Loaded {
                tree: merge_fragment(path, &source, &host_tree, &host_name)?,
                modules: None,
            });
        }
    }
    if !path.ends_with(".toml") {
        return Ok(Loaded {
            tree: read_tree(path)?,
            modules: None,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let doc: Document = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let (host_tree, _) = host.tree()?.ok_or_else(|| format!("{path}: {TOML_HELP}"))?;
    let base = Path::new(path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let read = |file: &str| std::fs::read(base.join(file)).map_err(|e| e.to_string());
    let compiled =
        authoring::compile(&doc, &host_tree, &read).map_err(|e| format!("{path}: {e}"))?;
    Ok(Loaded {
        tree: compiled.tree.clone(),
        modules: Some(compiled),
    })
}

/// Host facts from `--hypervisor ADDR:SIZE` and loaded modules.
pub fn host_facts<'a>(
    hypervisor: Option<&str>,
    modules: Option<&'a Compiled>,
) -> Result<HostFacts<'a>, String> {
    let hypervisor = match hypervisor {
        None => AddressRange::default(),
        Some(text) => {
            let (a, s) = text
                .split_once(':')
                .ok_or("--hypervisor takes ADDR:SIZE, e.g. 0x40000000:2M")?;
            let number =
                |v: &str| parse_number(v).ok_or(format!("--hypervisor: {v} is not a number"));
            let (start, size) = (number(a)?, number(s)?);
            AddressRange::new(start, size).ok_or(format!(
                "--hypervisor: {start:#x}+{size:#x} wraps past 2^64; lower the address or size"
            ))?
        }
    };
    Ok(HostFacts {
        hypervisor,
        boot_cpu_mpidr: None,
        modules: modules.map(|m| m as &dyn ModuleSource),
    })
}
