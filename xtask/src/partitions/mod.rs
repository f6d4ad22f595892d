//! Builds a partition scenario's boot under `target/scenarios/NAME/`: the host tree QEMU makes
//! (`host.dtb`), the partitions merged into its `/chosen` with their modules placed
//! (`merged.dtb`, given with `-dtb`), and QEMU's final view of it (`booted.dtb`), which must
//! pass the validator (or fail it as the config-error scenario expects).

mod check;
pub(crate) mod merge;
pub(crate) mod placement;
pub mod qemu_tree;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use dom0less_config::devicetree::{DtError, Tree};
use dom0less_config::host::HostInfo;
use qemu_tests::command::{self, Boot, CommandError, ConsoleMode};
use qemu_tests::{Prepared, Scenario};

use crate::linux;
use crate::shell::ShellError;
use crate::workspace;
use check::CheckError;
use merge::{MergeError, Module, Named};
use placement::{HostLayout, Placer};

/// What every scenario's build shares.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The hypervisor Image.
    pub image: &'a Path,
    /// The directory of the test guest Images (`NAME.bin`).
    pub guests: &'a Path,
    /// The board's firmware device tree, for boards whose QEMU model needs one.
    pub board_dtb: Option<&'a Path>,
    /// The Linux guest's directory (`Image`, `initramfs.cpio`), for configs that name it.
    pub linux: Option<&'a Path>,
}

/// Why a scenario's boot could not be built.
#[derive(Debug)]
pub enum PrepareError {
    /// The scenario has no partition config.
    NoConfig,
    UnknownBoard(String),
    /// The board has no RAM window to read its start from.
    NoRam {
        board: &'static str,
    },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The hypervisor Image has no header to read its size from.
    NoImageHeader {
        image: PathBuf,
    },
    /// The Image header's `image_size` runs past the end of the address space.
    ImageTooLarge {
        image: PathBuf,
        size: u64,
    },
    Command(CommandError),
    /// QEMU was given no `-machine` option to dump the tree of.
    NoMachineOption,
    /// QEMU or dtc failed.
    Tool(ShellError),
    /// A device tree QEMU or dtc wrote is unreadable.
    Tree {
        path: PathBuf,
        error: DtError,
    },
    /// The config file is neither `.dts` nor `.toml`.
    UnknownFormat {
        file: PathBuf,
    },
    /// No host RAM bank holds the module base.
    NoRamAt {
        address: u64,
    },
    Merge(MergeError),
    /// A module lands on the hypervisor or on the device tree QEMU loads.
    ModuleOnFixedRange {
        node: String,
        module: String,
        fixed: String,
    },
    Check(CheckError),
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrepareError::NoConfig => write!(f, "the scenario has no partition config"),
            PrepareError::UnknownBoard(b) => write!(f, "unknown board `{b}`"),
            PrepareError::NoRam { board } => write!(f, "board `{board}` lists no RAM window"),
            PrepareError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            PrepareError::NoImageHeader { image } => {
                write!(
                    f,
                    "{}: too short for an arm64 Image header",
                    image.display()
                )
            }
            PrepareError::ImageTooLarge { image, size } => write!(
                f,
                "{}: the header's image_size {size:#x} wraps past 2^64; rebuild the Image",
                image.display()
            ),
            PrepareError::Command(e) => write!(f, "{e}"),
            PrepareError::NoMachineOption => {
                write!(
                    f,
                    "the QEMU command line has no -machine option to dump the tree of"
                )
            }
            PrepareError::Tool(e) => write!(f, "{e}"),
            PrepareError::Tree { path, error } => write!(f, "{}: {error}", path.display()),
            PrepareError::UnknownFormat { file } => write!(
                f,
                "{}: a partition config is a `.dts` fragment of /chosen or a `.toml` file",
                file.display()
            ),
            PrepareError::NoRamAt { address } => {
                write!(
                    f,
                    "the host tree has no RAM bank at the module base {address:#x}"
                )
            }
            PrepareError::Merge(e) => write!(f, "{e}"),
            PrepareError::ModuleOnFixedRange {
                node,
                module,
                fixed,
            } => {
                write!(
                    f,
                    "{node}: module {module} overlaps {fixed}; move the module base"
                )
            }
            PrepareError::Check(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PrepareError {}

fn read(path: &Path) -> Result<Vec<u8>, PrepareError> {
    fs::read(path).map_err(|source| PrepareError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PrepareError> {
    fs::write(path, bytes).map_err(|source| PrepareError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_tree(path: &Path) -> Result<Tree, PrepareError> {
    Tree::parse(&read(path)?).map_err(|error| PrepareError::Tree {
        path: path.to_path_buf(),
        error,
    })
}

/// Whether the scenario's partition config names a file of the Linux guest, which must be
/// built before [`prepare`]. An unreadable config says no: `prepare` reports it.
pub fn names_linux(scenario: &Scenario) -> bool {
    scenario.partitions.as_ref().is_some_and(|config| {
        fs::read_to_string(workspace::root().join(&config.file))
            .is_ok_and(|text| merge::names_linux(&text))
    })
}

/// Has QEMU dump the tree it would boot `boot` with into `file`.
fn dump(boot: &Boot<'_>, file: &Path) -> Result<(), PrepareError> {
    let args = command::qemu_args(boot, ConsoleMode::Captured).map_err(PrepareError::Command)?;
    let dumping = qemu_tree::dump_args(&args, file).ok_or(PrepareError::NoMachineOption)?;
    qemu_tree::dump(&dumping).map_err(PrepareError::Tool)
}

/// Builds the boot of `scenario` (see the module documentation) and returns the tree to boot
/// and the QEMU arguments that load its modules.
pub fn prepare(scenario: &Scenario, inputs: &Inputs<'_>) -> Result<Prepared, PrepareError> {
    let config = scenario.partitions.as_ref().ok_or(PrepareError::NoConfig)?;
    let board = boards::Board::by_name(&scenario.board)
        .ok_or_else(|| PrepareError::UnknownBoard(scenario.board.clone()))?;
    let dir = workspace::scenario_builds().join(&scenario.name);
    fs::create_dir_all(&dir).map_err(|source| PrepareError::Io {
        path: dir.clone(),
        source,
    })?;
    let ram_start = board
        .ram_windows
        .first()
        .ok_or(PrepareError::NoRam { board: board.name })?
        .start();
    let image_size =
        placement::image_size(&read(inputs.image)?).ok_or_else(|| PrepareError::NoImageHeader {
            image: inputs.image.to_path_buf(),
        })?;
    let layout =
        HostLayout::new(ram_start, image_size).ok_or_else(|| PrepareError::ImageTooLarge {
            image: inputs.image.to_path_buf(),
            size: image_size,
        })?;

    let mut boot = Boot {
        board,
        gic: scenario.gic,
        kernel: inputs.image,
        dtb: inputs.board_dtb,
        bootargs: scenario.bootargs.as_deref(),
        // The scenario's own QEMU options (a bench's `-cpu` and `-smp`) shape the tree too.
        extra: &scenario.qemu_args,
    };
    let host_dtb = dir.join("host.dtb");
    dump(&boot, &host_dtb)?;
    let host = parse_tree(&host_dtb)?;

    let file = workspace::root().join(&config.file);
    let text = fs::read_to_string(&file).map_err(|source| PrepareError::Io {
        path: file.clone(),
        source,
    })?;
    let (tree, modules) = match file.extension().and_then(|e| e.to_str()) {
        Some("dts") => from_fragment(&text, &host_dtb, &dir, &layout, inputs)?,
        Some("toml") => from_toml(&text, &host, &dir, inputs)?,
        _ => return Err(PrepareError::UnknownFormat { file }),
    };
    for module in &modules {
        let fixed = [
            (layout.hypervisor, "the hypervisor image"),
            (layout.dtb, "the device tree QEMU loads"),
        ];
        if let Some((range, what)) = fixed.iter().find(|(r, _)| r.overlaps(&module.range)) {
            return Err(PrepareError::ModuleOnFixedRange {
                node: module.node.clone(),
                module: module.range.to_string(),
                fixed: format!("{what} at {range}"),
            });
        }
    }
    let merged = dir.join("merged.dtb");
    write(&merged, &tree.to_dtb())?;

    boot.dtb = Some(&merged);
    let booted = dir.join("booted.dtb");
    dump(&boot, &booted)?;
    // Partial device trees only: the other modules' bytes are not needed to check.
    let mut partials = Vec::new();
    for module in modules.iter().filter(|m| m.file.extension().is_some_and(|e| e == "dtb")) {
        partials.push((module.range, read(&module.file)?));
    }
    let (partitions, notes) = check::validate(
        &read(&booted)?,
        layout.hypervisor,
        &partials,
        config.valid,
        &scenario.expect,
    )
    .map_err(PrepareError::Check)?;
    if config.valid {
        println!(
            "xtask: {}: {partitions} partitions pass the validator, {} modules",
            scenario.name,
            modules.len()
        );
    } else {
        println!(
            "xtask: {}: the validator rejects the config as expected",
            scenario.name
        );
    }
    for note in notes {
        println!("  {note}");
    }
    Ok(Prepared {
        dtb: merged,
        qemu_args: modules
            .iter()
            .flat_map(|m| placement::loader_args(&m.file, m.range.start()))
            .collect(),
    })
}

/// The `.dts` path: dtc merges the fragment into the host's source, then the test guests
/// are placed from the layout's module base.
fn from_fragment(
    fragment: &str,
    host_dtb: &Path,
    dir: &Path,
    layout: &HostLayout,
    inputs: &Inputs<'_>,
) -> Result<(Tree, Vec<Module>), PrepareError> {
    let host_dts = qemu_tree::decompile(host_dtb).map_err(PrepareError::Tool)?;
    let source = dir.join("merged.dts");
    write(&source, merge::merge_source(&host_dts, fragment).as_bytes())?;
    let unplaced = dir.join("unplaced.dtb");
    qemu_tree::compile(&source, &unplaced).map_err(PrepareError::Tool)?;
    let mut tree = parse_tree(&unplaced)?;

    let ram = HostInfo::read(&tree).map_err(|error| PrepareError::Tree {
        path: unplaced.clone(),
        error,
    })?;
    let ram_end = ram
        .ram
        .iter()
        .find(|bank| bank.contains(layout.module_base))
        .map(|bank| bank.end())
        .ok_or(PrepareError::NoRamAt {
            address: layout.module_base,
        })?;
    let mut taken = merge::claimed_ranges(&tree).map_err(PrepareError::Merge)?;
    taken.extend(layout.fixed());
    let mut placer = Placer::new(layout.module_base, ram_end, taken);
    let find = |named: Named<'_>| {
        let file = match named {
            Named::TestGuest(name) => inputs.guests.join(format!("{name}.bin")),
            Named::Linux(name) if linux::FILES.contains(&name) => inputs.linux?.join(name),
            Named::Linux(_) => return None,
            Named::Dts(source) => {
                let stem = Path::new(source).file_stem()?.to_str()?;
                let blob = dir.join(format!("{stem}.dtb"));
                qemu_tree::compile(&workspace::root().join(source), &blob).ok()?;
                blob
            }
        };
        fs::metadata(&file).ok().map(|m| (file, m.len()))
    };
    let modules =
        merge::place_named_modules(&mut tree, &mut placer, &find).map_err(PrepareError::Merge)?;
    Ok((tree, modules))
}

/// The `.toml` path: the crate compiles the document onto the host tree and places the
/// modules; each module's bytes are written out for QEMU to load.
fn from_toml(
    text: &str,
    host: &Tree,
    dir: &Path,
    inputs: &Inputs<'_>,
) -> Result<(Tree, Vec<Module>), PrepareError> {
    let compiled = merge::compile_toml(text, host, inputs.guests, inputs.linux)
        .map_err(PrepareError::Merge)?;
    let mut modules = Vec::new();
    for (range, bytes) in &compiled.modules {
        let file = dir.join(format!("module-{:#x}.bin", range.start()));
        write(&file, bytes)?;
        modules.push(Module {
            node: format!("the module at {:#x}", range.start()),
            range: *range,
            file,
        });
    }
    Ok((compiled.tree, modules))
}
