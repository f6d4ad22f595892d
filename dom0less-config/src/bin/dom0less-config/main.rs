//! `dom0less-config`: check, show, compile and decompile dom0less partition configs.

mod input;
mod report;

use std::process::ExitCode;

use dom0less_config::authoring;
use dom0less_config::devicetree::Tree;
use dom0less_config::PartitionPlan;

const USAGE: &str = "usage:
  dom0less-config check FILE [--host HOST] [--hypervisor ADDR:SIZE] [--format text|json]
  dom0less-config show FILE [--host HOST] [--hypervisor ADDR:SIZE] [--format text|json]
  dom0less-config compile FILE.toml --host HOST -o OUT [--dts]
  dom0less-config decompile FILE [-o OUT.toml]
FILE is a .dtb, a .dts (compiled with dtc) or a .toml; HOST is a .dtb or .dts host tree.";

/// Parsed command line.
pub struct Options {
    pub command: String,
    pub file: String,
    pub host: Option<String>,
    pub output: Option<String>,
    pub dts: bool,
    pub json: bool,
    pub hypervisor: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut iter = args.iter();
    let command = iter.next().ok_or("missing command")?.clone();
    let mut options = Options {
        command,
        file: String::new(),
        host: None,
        output: None,
        dts: false,
        json: false,
        hypervisor: None,
    };
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| iter.next().cloned().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--host" => options.host = Some(value("--host")?),
            "-o" | "--output" => options.output = Some(value("-o")?),
            "--hypervisor" => options.hypervisor = Some(value("--hypervisor")?),
            "--dts" => options.dts = true,
            "--format" => match value("--format")?.as_str() {
                "json" => options.json = true,
                "text" => options.json = false,
                other => return Err(format!("unknown format {other}; use text or json")),
            },
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other if options.file.is_empty() => options.file = other.to_string(),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    if options.file.is_empty() {
        return Err(String::from("missing FILE"));
    }
    Ok(options)
}

fn run(options: &Options) -> Result<ExitCode, String> {
    match options.command.as_str() {
        "check" | "show" => {
            let loaded = input::load(&options.file, options.host.as_deref())?;
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
            let loaded = input::load(&options.file, options.host.as_deref())?;
            let host = input::host_facts(options.hypervisor.as_deref(), loaded.modules.as_ref())?;
            if let Err(errors) = PartitionPlan::from_tree(&loaded.tree, &host) {
                return Ok(report::check(&options.file, &Err(errors), false));
            }
            let bytes = if options.dts {
                input::to_dts(&loaded.tree.to_dtb())?
            } else {
                loaded.tree.to_dtb()
            };
            std::fs::write(output, bytes).map_err(|e| format!("cannot write {output}: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
        "decompile" => {
            let loaded = input::load(&options.file, options.host.as_deref())?;
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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
