//! Runs the `dom0less-config` validator on the tree QEMU will boot: a valid scenario must pass
//! it; the config-error scenario must fail it with the errors its expected lines name.

use std::fmt;

use dom0less_config::devicetree::AddressRange;
use dom0less_config::{HostFacts, PartitionPlan};
use qemu_tests::scenarios::partitions::CONFIG_ERROR;
use qemu_tests::Expect;

/// Why the validator's verdict is not the one the scenario needs.
#[derive(Debug, PartialEq, Eq)]
pub enum CheckError {
    /// A config meant to be valid was rejected.
    Invalid { errors: Vec<String> },
    /// A config meant to be rejected passed.
    UnexpectedlyValid { partitions: usize },
    /// The scenario expects config error lines the validator does not produce.
    ErrorsDiffer {
        missing: Vec<String>,
        actual: Vec<String>,
    },
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, lines: &[String]| {
            lines.iter().try_for_each(|l| write!(f, "\n  {l}"))
        };
        match self {
            CheckError::Invalid { errors } => {
                write!(f, "the validator rejects the config:")?;
                list(f, errors)
            }
            CheckError::UnexpectedlyValid { partitions } => write!(
                f,
                "the config should be invalid, but the validator accepts its {partitions} partitions"
            ),
            CheckError::ErrorsDiffer { missing, actual } => {
                write!(f, "the scenario expects config errors the validator does not report:")?;
                list(f, missing)?;
                write!(f, "\nthe validator reports:")?;
                list(f, actual)
            }
        }
    }
}

impl std::error::Error for CheckError {}

/// Every expected text that is a config error line.
fn expected_errors(expect: &[Expect]) -> Vec<&str> {
    let mut texts = Vec::new();
    for step in expect {
        match step {
            Expect::Line(text) => texts.push(text.as_str()),
            Expect::AnyOrder(group) => texts.extend(group.iter().map(String::as_str)),
            Expect::Interleaved(sequences) => {
                texts.extend(sequences.iter().flatten().map(String::as_str))
            }
            Expect::Type(_) => {}
        }
    }
    texts.retain(|t| t.starts_with(CONFIG_ERROR));
    texts
}

/// Validates the boot tree `dtb` with the hypervisor at `hypervisor`. With `valid`, returns
/// the number of partitions and the warnings; without, checks that the errors the scenario
/// expects (`bulkhead: config error: ...` lines, matched as substrings) are among the
/// validator's.
/// The bytes of the modules QEMU loads, by host range.
struct Modules<'a>(&'a [(AddressRange, Vec<u8>)]);

impl dom0less_config::ModuleSource for Modules<'_> {
    fn bytes(&self, range: AddressRange) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(r, _)| *r == range)
            .map(|(_, bytes)| bytes.as_slice())
    }
}

pub fn validate(
    dtb: &[u8],
    hypervisor: AddressRange,
    modules: &[(AddressRange, Vec<u8>)],
    valid: bool,
    expect: &[Expect],
) -> Result<(usize, Vec<String>), CheckError> {
    let modules = Modules(modules);
    let facts = HostFacts {
        hypervisor,
        boot_cpu_mpidr: Some(0),
        // The modules' bytes, so that partial device trees (passthrough) are checked too.
        modules: Some(&modules),
    };
    match (PartitionPlan::from_host_tree(dtb, &facts), valid) {
        (Ok(validated), true) => Ok((
            validated.plan.partitions.len(),
            validated.warnings.iter().map(|w| w.to_string()).collect(),
        )),
        (Ok(validated), false) => Err(CheckError::UnexpectedlyValid {
            partitions: validated.plan.partitions.len(),
        }),
        (Err(errors), true) => Err(CheckError::Invalid {
            errors: errors.iter().map(|e| e.to_string()).collect(),
        }),
        (Err(errors), false) => {
            let actual: Vec<String> = errors
                .iter()
                .map(|e| format!("{CONFIG_ERROR}{e}"))
                .collect();
            let missing: Vec<String> = expected_errors(expect)
                .into_iter()
                .filter(|want| !actual.iter().any(|line| line.contains(want)))
                .map(String::from)
                .collect();
            if missing.is_empty() {
                Ok((0, actual))
            } else {
                Err(CheckError::ErrorsDiffer { missing, actual })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dom0less_config::devicetree::{cells_value, strings_value, Tree};

    /// A host with RAM at 0x40000000, one CPU, and one domain whose kernel is `kernel`.
    fn dtb(kernel: Option<[u32; 4]>) -> Vec<u8> {
        let mut tree = Tree::new();
        let root = tree.root();
        tree.set_property(root, "#address-cells", cells_value(&[2]));
        tree.set_property(root, "#size-cells", cells_value(&[2]));
        let memory = tree.add_node(root, "memory@40000000");
        tree.set_property(memory, "device_type", strings_value(&["memory"]));
        tree.set_property(
            memory,
            "reg",
            cells_value(&[0, 0x4000_0000, 0, 0x8000_0000]),
        );
        let cpus = tree.add_node(root, "cpus");
        tree.set_property(cpus, "#address-cells", cells_value(&[1]));
        tree.set_property(cpus, "#size-cells", cells_value(&[0]));
        let cpu = tree.add_node(cpus, "cpu@0");
        tree.set_property(cpu, "device_type", strings_value(&["cpu"]));
        tree.set_property(cpu, "reg", cells_value(&[0]));
        let chosen = tree.add_node(root, "chosen");
        let domain = tree.add_node(chosen, "solo");
        tree.set_property(domain, "compatible", strings_value(&["xen,domain"]));
        tree.set_property(domain, "#address-cells", cells_value(&[2]));
        tree.set_property(domain, "#size-cells", cells_value(&[2]));
        tree.set_property(domain, "cpus", cells_value(&[1]));
        tree.set_property(domain, "memory", cells_value(&[0, 0x10000]));
        if let Some(reg) = kernel {
            let module = tree.add_node(domain, "kernel");
            tree.set_property(
                module,
                "compatible",
                strings_value(&["multiboot,kernel", "multiboot,module"]),
            );
            tree.set_property(module, "reg", cells_value(&reg));
        }
        tree.to_dtb()
    }

    const HYPERVISOR: AddressRange = AddressRange::window(0x4020_0000, 0x4080_0000);
    const KERNEL: [u32; 4] = [0, 0x4820_0000, 0, 0x2_0000];

    #[test]
    fn a_valid_config_passes_and_an_invalid_one_names_its_errors() {
        assert_eq!(
            validate(&dtb(Some(KERNEL)), HYPERVISOR, &[], true, &[]).map(|v| v.0),
            Ok(1)
        );
        let Err(CheckError::Invalid { errors }) = validate(&dtb(None), HYPERVISOR, &[], true, &[])
        else {
            panic!("a domain without a kernel passed");
        };
        assert!(errors.iter().any(|e| e.contains("no kernel")), "{errors:?}");
    }

    #[test]
    fn the_hypervisor_image_is_checked_against_modules() {
        let on_hypervisor = [0, 0x4020_0000, 0, 0x2_0000];
        assert!(matches!(
            validate(&dtb(Some(on_hypervisor)), HYPERVISOR, &[], true, &[]),
            Err(CheckError::Invalid { .. })
        ));
    }

    #[test]
    fn an_error_scenario_must_fail_with_the_expected_lines() {
        let expect = |text: &str| vec![Expect::AnyOrder(vec![format!("{CONFIG_ERROR}{text}")])];
        assert!(validate(
            &dtb(None),
            HYPERVISOR,
            &[],
            false,
            &expect("/chosen/solo: no kernel")
        )
        .is_ok());
        assert!(matches!(
            validate(&dtb(None), HYPERVISOR, &[], false, &expect("/chosen/solo: too many cpus")),
            Err(CheckError::ErrorsDiffer { missing, .. }) if missing.len() == 1
        ));
        assert_eq!(
            validate(&dtb(Some(KERNEL)), HYPERVISOR, &[], false, &[]),
            Err(CheckError::UnexpectedlyValid { partitions: 1 })
        );
    }
}
