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

/// Loads FILE; a `.toml` needs a host tree.
pub fn load(path: &str, host: Option<&str>) -> Result<Loaded, String> {
    if !path.ends_with(".toml") {
        return Ok(Loaded {
            tree: read_tree(path)?,
            modules: None,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let doc: Document = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let host = host.ok_or("a .toml config needs --host HOST.dtb (the board's device tree)")?;
    let host_tree = read_tree(host)?;
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
