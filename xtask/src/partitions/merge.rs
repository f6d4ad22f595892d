//! Puts a scenario's partitions into the host tree: a `.dts` fragment of `/chosen` is
//! appended to the host's source, then its test guests are placed in RAM; a `.toml` file is
//! compiled onto the host tree by the `dom0less-config` crate.

use std::fmt;
use std::path::{Path, PathBuf};

use dom0less_config::authoring::{self, CompileError, Compiled, Document};
use dom0less_config::devicetree::{
    cells_value, decode_pairs, number_cells, AddressRange, DtError, NodeId, Tree,
};

use super::placement::Placer;

/// The property of a module node in a scenario fragment naming the test guest to load.
pub const TEST_GUEST: &str = "bulkhead,test-guest";
/// The property of a module node in a scenario fragment naming a file of the Linux guest
/// (`Image` or `initramfs.cpio`, built by `cargo xtask guests`).
pub const LINUX_FILE: &str = "bulkhead,linux";
/// The property of a module node in a scenario fragment naming a device tree source (a
/// partial device tree for passthrough), relative to the workspace root, which dtc compiles.
pub const DTS_FILE: &str = "bulkhead,dts";
/// How a TOML module `file` names a file of the Linux guest: `linux/Image`.
pub const LINUX_PREFIX: &str = "linux/";

/// What a module node of a fragment names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named<'a> {
    /// A test guest by name (`hello`).
    TestGuest(&'a str),
    /// A file of the Linux guest (`Image`).
    Linux(&'a str),
    /// A device tree source to compile.
    Dts(&'a str),
}

/// Whether a config's text names a file of the Linux guest, which must then be built first.
pub fn names_linux(config: &str) -> bool {
    config.contains(LINUX_FILE) || config.contains(&format!("\"{LINUX_PREFIX}"))
}

/// Why the partitions could not be put into the host tree.
#[derive(Debug)]
pub enum MergeError {
    /// A module node names a test guest that was not built.
    UnknownGuest { node: String, guest: String },
    /// A module node names a file the Linux guest does not have (or it was not built).
    UnknownLinuxFile { node: String, file: String },
    /// A module node names a device tree source that does not compile.
    BadDts { node: String, file: String },
    /// No free RAM is left for a module.
    NoRoom { node: String, size: u64 },
    /// A module node's own `reg` is smaller than the file it names.
    TooSmall { node: String, size: u64, given: u64 },
    /// A property the merge reads is malformed.
    Tree { node: String, error: DtError },
    /// The TOML file does not parse.
    Toml { error: String },
    /// The crate could not compile the TOML document.
    Compile(CompileError),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::UnknownGuest { node, guest } => write!(
                f,
                "{node}: `{TEST_GUEST}` names \"{guest}\", which is not a test guest \
                 (one per tests/guests/src/bin/NAME.rs or NAME/main.rs)"
            ),
            MergeError::UnknownLinuxFile { node, file } => write!(
                f,
                "{node}: `{LINUX_FILE}` names \"{file}\", which is not a file of the Linux \
                 guest (Image or initramfs.cpio, built by `cargo xtask guests`)"
            ),
            MergeError::BadDts { node, file } => write!(
                f,
                "{node}: `{DTS_FILE}` names \"{file}\", which is not a device tree source dtc compiles (a path from the workspace root)"
            ),
            MergeError::NoRoom { node, size } => {
                write!(f, "{node}: no free host RAM for {size:#x} bytes")
            }
            MergeError::TooSmall { node, size, given } => write!(
                f,
                "{node}: its `reg` gives {given:#x} bytes but the file it names has {size:#x}; enlarge the range or drop `reg` to have the module placed"
            ),
            MergeError::Tree { node, error } => write!(f, "{node}: {error}"),
            MergeError::Toml { error } => write!(f, "{error}"),
            MergeError::Compile(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MergeError {}

/// A module to load: its file and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// The node that names it.
    pub node: String,
    /// Host physical range.
    pub range: AddressRange,
    /// The file QEMU loads there.
    pub file: PathBuf,
}

/// The source of the merged tree: the host's source, then the fragment (its own `/dts-v1/;`
/// dropped), so that dtc merges the fragment's `/chosen` into the host's and resolves its
/// path references (`&{/cpus/cpu@0}`) against the host's nodes.
pub fn merge_source(host_dts: &str, fragment: &str) -> String {
    let fragment = fragment.replacen("/dts-v1/;", "", 1);
    format!(
        "{}\n\n/* The scenario's partitions. */\n{fragment}",
        host_dts.trim_end()
    )
}

fn tree_error(tree: &Tree, node: NodeId) -> impl FnOnce(DtError) -> MergeError + '_ {
    move |error| MergeError::Tree {
        node: tree.path(node),
        error,
    }
}

/// Host ranges the `/chosen` domains already claim: static memory and modules with `reg`.
pub fn claimed_ranges(tree: &Tree) -> Result<Vec<AddressRange>, MergeError> {
    let mut ranges = Vec::new();
    let Some(chosen) = tree.find("/chosen") else {
        return Ok(ranges);
    };
    for &domain in tree.node(chosen).children() {
        let node = tree.node(domain);
        if !node.is_compatible("xen,domain") {
            continue;
        }
        if let Some(banks) = node.property("xen,static-mem") {
            // Xen before 4.18 gives the cells in the domain; later ones inherit /chosen's.
            let cells = |own: &str, inherited: Result<u32, DtError>| {
                node.property(own).map_or(inherited, |p| p.u32())
            };
            let address = cells("#xen,static-mem-address-cells", tree.address_cells(chosen))
                .map_err(tree_error(tree, domain))?;
            let size = cells("#xen,static-mem-size-cells", tree.size_cells(chosen))
                .map_err(tree_error(tree, domain))?;
            ranges.extend(decode_pairs(banks, address, size).map_err(tree_error(tree, domain))?);
        }
        for &child in node.children() {
            if tree.node(child).is_compatible("multiboot,module") {
                ranges.extend(tree.reg(child).map_err(tree_error(tree, child))?);
            }
            if tree.node(child).is_compatible("xen,domain-shared-memory-v1") {
                ranges.extend(shared_host_range(tree, domain, child)?);
            }
        }
    }
    Ok(ranges)
}

/// The host range of a static shared-memory node (`xen,shared-mem = <host guest size>` in the
/// domain's cells); none for the `<guest size>` form, whose host memory is not fixed.
fn shared_host_range(tree: &Tree, domain: NodeId, node: NodeId) -> Result<Option<AddressRange>, MergeError> {
    let Some(property) = tree.node(node).property("xen,shared-mem") else {
        return Ok(None);
    };
    let address = tree.address_cells(domain).map_err(tree_error(tree, domain))? as usize;
    let size = tree.size_cells(domain).map_err(tree_error(tree, domain))? as usize;
    let words: Vec<u64> = property
        .value()
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    if words.len() != 2 * address + size || address > 2 || size > 2 {
        return Ok(None);
    }
    let number = |cells: &[u64]| cells.iter().fold(0u64, |n, &c| (n << 32) | c);
    let host = number(&words[..address]);
    let bytes = number(&words[2 * address..]);
    Ok(AddressRange::new(host, bytes))
}

/// The string value of `property` in node `id`, if it has one.
fn string_property(tree: &Tree, id: NodeId, property: &str) -> Result<Option<String>, MergeError> {
    tree.node(id)
        .property(property)
        .map(|p| p.str().map(str::to_string))
        .transpose()
        .map_err(tree_error(tree, id))
}

/// Places every module a node names in [`TEST_GUEST`], [`LINUX_FILE`] or [`DTS_FILE`]: writes the node's
/// `reg` in its parent's cells and drops the property. `find` gives a named file and its size.
/// A node that has a `reg` already stays at its address, its size that of the file (which
/// must fit the range it gave).
pub fn place_named_modules(
    tree: &mut Tree,
    placer: &mut Placer,
    find: &dyn Fn(Named<'_>) -> Option<(PathBuf, u64)>,
) -> Result<Vec<Module>, MergeError> {
    let named: Vec<(NodeId, &str)> = tree
        .node_ids()
        .flat_map(|id| [(id, TEST_GUEST), (id, LINUX_FILE), (id, DTS_FILE)])
        .filter(|(id, property)| tree.node(*id).property(property).is_some())
        .collect();
    let mut modules = Vec::new();
    for (id, property) in named {
        let node = tree.path(id);
        let name = string_property(tree, id, property)?.unwrap_or_default();
        let (named, unknown) = if property == TEST_GUEST {
            let unknown = MergeError::UnknownGuest {
                node: node.clone(),
                guest: name.clone(),
            };
            (Named::TestGuest(&name), unknown)
        } else if property == DTS_FILE {
            let unknown = MergeError::BadDts {
                node: node.clone(),
                file: name.clone(),
            };
            (Named::Dts(&name), unknown)
        } else {
            let unknown = MergeError::UnknownLinuxFile {
                node: node.clone(),
                file: name.clone(),
            };
            (Named::Linux(&name), unknown)
        };
        let (file, size) = find(named).ok_or(unknown)?;
        // A node with its own `reg` (a documentation example's fixed address) keeps its
        // address, if the file fits the range it names; the others are placed.
        let fixed = tree.reg(id).map_err(tree_error(tree, id))?.first().copied();
        let range = match fixed {
            Some(given) => AddressRange::new(given.start(), size)
                .filter(|r| r.end() <= given.end())
                .ok_or(MergeError::TooSmall { node: node.clone(), size, given: given.size() })?,
            None => placer.place(size).ok_or(MergeError::NoRoom {
                node: node.clone(),
                size,
            })?,
        };
        let parent = tree.node(id).parent().unwrap_or(tree.root());
        let address_cells = tree
            .address_cells(parent)
            .map_err(tree_error(tree, parent))?;
        let size_cells = tree.size_cells(parent).map_err(tree_error(tree, parent))?;
        let mut cells = Vec::new();
        number_cells(range.start(), address_cells, &mut cells);
        number_cells(range.size(), size_cells, &mut cells);
        tree.set_property(id, "reg", cells_value(&cells));
        tree.remove_property(id, property);
        modules.push(Module { node, range, file });
    }
    Ok(modules)
}

/// Compiles a TOML document onto `host`. A module `file` is a test guest Image in `guests`
/// (`hello.bin`), or with [`LINUX_PREFIX`] a file in `linux`, the Linux guest's directory.
pub fn compile_toml(
    text: &str,
    host: &Tree,
    guests: &Path,
    linux: Option<&Path>,
) -> Result<Compiled, MergeError> {
    let doc: Document = toml::from_str(text).map_err(|e| MergeError::Toml {
        error: e.to_string(),
    })?;
    let read = |name: &str| {
        // A partial device tree written as source: compiled by dtc, from the workspace root.
        if name.ends_with(".dts") {
            return dts_blob(&crate::workspace::root().join(name));
        }
        let path = match (name.strip_prefix(LINUX_PREFIX), linux) {
            (Some(file), Some(dir)) => dir.join(file),
            (Some(_), None) => return Err(format!("{name}: the Linux guest was not built")),
            (None, _) => guests.join(name),
        };
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    authoring::compile(&doc, host, &read).map_err(MergeError::Compile)
}

/// The blob dtc makes of the device tree source at `source`.
fn dts_blob(source: &Path) -> Result<Vec<u8>, String> {
    let output = std::process::Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o", "-"])
        .arg(source)
        .output()
        .map_err(|e| format!("{}: cannot run dtc (device-tree-compiler): {e}", source.display()))?;
    if !output.status.success() {
        return Err(format!("{}: dtc: {}", source.display(), String::from_utf8_lossy(&output.stderr)));
    }
    Ok(output.stdout)
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
