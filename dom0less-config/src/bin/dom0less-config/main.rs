//! `dom0less-config`: check, show, compile and decompile dom0less partition configs.

mod input;
mod report;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use dom0less_config::authoring;
use dom0less_config::devicetree::Tree;
use dom0less_config::PartitionPlan;

/// Checks, shows, compiles and decompiles static partition configs in Xen's dom0less
/// device-tree binding (docs/config.md).
///
/// FILE is a .dtb, a .dts (compiled with dtc, Debian package device-tree-compiler) or a
/// .toml. A .dts or .toml that holds only the partitions (a fragment of /chosen, like the
/// demos) needs the board's host tree it extends: --board virt|rpi4 (built-in trees of QEMU
/// virt and of the Raspberry Pi 4) or --host HOST (.dtb or .dts).
///
/// Exit status: 0 valid (or done), 1 the config has errors (each printed with the node, the
/// value and the fix), 2 unusable input or usage.
#[derive(Parser)]
#[command(name = "dom0less-config", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validates FILE as the hypervisor does at boot; prints a summary or every error.
    Check(Inspect),
    /// Prints the partition plan FILE gives (CPUs, memory, devices, channels).
    Show(Inspect),
    /// Compiles a .toml config onto a host tree into a DTB (or .dts) to boot with, or into
    /// an overlay of the board's tree (--overlay).
    Compile {
        /// The .toml config.
        file: String,
        #[command(flatten)]
        host: HostArgs,
        /// Write a device-tree overlay (.dtbo) that adds the partitions to the board's
        /// /chosen, as the Raspberry Pi firmware's `dtoverlay=` or fdtoverlay apply it.
        #[arg(long)]
        overlay: bool,
        /// Where to write the result.
        #[arg(short, long)]
        output: String,
        /// Write device tree source instead of a blob.
        #[arg(long)]
        dts: bool,
        /// The hypervisor image's host range, ADDR:SIZE, added to the overlap checks.
        #[arg(long, value_name = "ADDR:SIZE")]
        hypervisor: Option<String>,
    },
    /// Writes the TOML form of a config (a .dtb or .dts host tree with /chosen).
    Decompile {
        /// The config.
        file: String,
        /// Where to write the TOML (default: standard output).
        #[arg(short, long)]
        output: Option<String>,
    },
}

/// The host tree a .toml config or a /chosen fragment extends.
#[derive(Args)]
#[group(required = false, multiple = false)]
struct HostArgs {
    /// The board's host device tree (.dtb or .dts).
    #[arg(long)]
    host: Option<String>,
    /// A built-in host tree: virt (QEMU virt, GICv3, 4 CPUs, 2 GiB) or rpi4 (Raspberry Pi 4,
    /// Debian's tree, 1 GiB).
    #[arg(long, value_parser = ["virt", "rpi4"])]
    board: Option<String>,
}

#[derive(Args)]
struct Inspect {
    /// The config: .dtb, .dts or .toml.
    file: String,
    #[command(flatten)]
    host: HostArgs,
    /// The hypervisor image's host range, ADDR:SIZE, added to the overlap checks.
    #[arg(long, value_name = "ADDR:SIZE")]
    hypervisor: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Parsed command line.
pub struct Options {
    pub command: String,
    pub file: String,
    pub host: Option<String>,
    pub board: Option<String>,
    pub output: Option<String>,
    pub dts: bool,
    pub overlay: bool,
    pub json: bool,
    pub hypervisor: Option<String>,
}

impl From<Cli> for Options {
    fn from(cli: Cli) -> Self {
        let none = |command: &str, file: String| Options {
            command: String::from(command),
            file,
            host: None,
            board: None,
            output: None,
            dts: false,
            overlay: false,
            json: false,
            hypervisor: None,
        };
        match cli.command {
            Command::Check(i) => Options {
                host: i.host.host,
                board: i.host.board,
                hypervisor: i.hypervisor,
                json: i.format == Format::Json,
                ..none("check", i.file)
            },
            Command::Show(i) => Options {
                host: i.host.host,
                board: i.host.board,
                hypervisor: i.hypervisor,
                json: i.format == Format::Json,
                ..none("show", i.file)
            },
            Command::Compile { file, host, overlay, output, dts, hypervisor } => Options {
                host: host.host,
                board: host.board,
                overlay,
                output: Some(output),
                dts,
                hypervisor,
                ..none("compile", file)
            },
            Command::Decompile { file, output } => Options { output, ..none("decompile", file) },
        }
    }
}

impl Options {
    /// The host tree the options name.
    fn host(&self) -> input::Host<'_> {
        match (&self.host, &self.board) {
            (Some(file), _) => input::Host::File(file),
            (None, Some(board)) => input::Host::Board(board),
            (None, None) => input::Host::None,
        }
    }
}

fn run(options: &Options) -> Result<ExitCode, String> {
    match options.command.as_str() {
        "check" | "show" => {
            let loaded = input::load(&options.file, options.host())?;
            let host = input::host_facts(options.hypervisor.as_deref(), loaded.modules.as_ref())?;
            let result = PartitionPlan::from_tree(&loaded.tree, &host);
            Ok(if options.command == "check" {
                report::check(&options.file, &result, options.json)
            } else {
                report::show(&result, options.json)
            })
        }
        "compile" => {
            let output = options.output.as_deref().ok_or("compile needs -o OUT")?;
            let loaded = input::load(&options.file, options.host())?;
            let host = input::host_facts(options.hypervisor.as_deref(), loaded.modules.as_ref())?;
            if let Err(errors) = PartitionPlan::from_tree(&loaded.tree, &host) {
                return Ok(report::check(&options.file, &Err(errors), false));
            }
            let tree = if options.overlay {
                let base = input::host_tree(options.host())?;
                authoring::overlay(&base, &loaded.tree).map_err(|e| format!("{}: {e}", options.file))?
            } else {
                loaded.tree
            };
            let bytes = if options.dts {
                input::to_dts(&tree.to_dtb())?
            } else {
                tree.to_dtb()
            };
            std::fs::write(output, bytes).map_err(|e| format!("cannot write {output}: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
        "decompile" => {
            let loaded = input::load(&options.file, options.host())?;
            let validated = match PartitionPlan::from_tree(&loaded.tree, &Default::default()) {
                Ok(v) => v,
                Err(errors) => return Ok(report::check(&options.file, &Err(errors), false)),
            };
            let doc = authoring::decompile(&validated.plan);
            let text =
                toml::to_string_pretty(&doc).map_err(|e| format!("cannot format TOML: {e}"))?;
            match &options.output {
                Some(path) => {
                    std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))?
                }
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other}")),
    }
}

fn main() -> ExitCode {
    // clap prints help and version with status 0 and usage errors with status 2.
    let options = Options::from(Cli::parse());
    match run(&options) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Parses a tree, reporting errors as text.
pub fn parse_tree(bytes: &[u8], name: &str) -> Result<Tree, String> {
    Tree::parse(bytes).map_err(|e| format!("{name}: {e}"))
}
