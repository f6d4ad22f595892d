//! Tests for merging partitions into a host tree, on a small hand-built host.

use super::*;
use dom0less_config::devicetree::strings_value;
use dom0less_config::{HostFacts, PartitionPlan};

const MIB: u64 = 1 << 20;

/// A virt-like host: 2 GiB of RAM at 0x40000000, four CPUs, an empty `/chosen`.
fn host() -> Tree {
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
    for n in 0..4u32 {
        let cpu = tree.add_node(cpus, &format!("cpu@{n}"));
        tree.set_property(cpu, "device_type", strings_value(&["cpu"]));
        tree.set_property(cpu, "reg", cells_value(&[n]));
    }
    tree.add_node(root, "chosen");
    tree
}

/// Adds a one-vCPU domain with 64 MiB whose kernel names `guest`; `static_mem` adds a bank.
fn domain(tree: &mut Tree, name: &str, guest: &str, static_mem: Option<u64>) {
    let chosen = tree.find("/chosen").unwrap();
    tree.set_property(chosen, "#address-cells", cells_value(&[2]));
    tree.set_property(chosen, "#size-cells", cells_value(&[2]));
    let d = tree.add_node(chosen, name);
    tree.set_property(d, "compatible", strings_value(&["xen,domain"]));
    tree.set_property(d, "#address-cells", cells_value(&[1]));
    tree.set_property(d, "#size-cells", cells_value(&[1]));
    tree.set_property(d, "cpus", cells_value(&[1]));
    tree.set_property(d, "memory", cells_value(&[0, 0x10000]));
    if let Some(start) = static_mem {
        tree.set_property(
            d,
            "xen,static-mem",
            cells_value(&[0, start as u32, 0, 0x400_0000]),
        );
    }
    let kernel = tree.add_node(d, "kernel");
    tree.set_property(
        kernel,
        "compatible",
        strings_value(&["multiboot,kernel", "multiboot,module"]),
    );
    tree.set_property(kernel, TEST_GUEST, strings_value(&[guest]));
}

fn guests(named: Named<'_>) -> Option<(PathBuf, u64)> {
    match named {
        Named::TestGuest("hello") => Some(("guests/hello.bin".into(), 0x1e000)),
        Named::TestGuest("smp") => Some(("guests/smp.bin".into(), 3 * MIB)),
        Named::Linux("Image") => Some(("linux/Image".into(), 32 * MIB + 0x1000)),
        Named::Linux("initramfs.cpio") => Some(("linux/initramfs.cpio".into(), 0x1c_3f1c)),
        _ => None,
    }
}

#[test]
fn guests_are_placed_around_static_memory_and_pass_the_validator() {
    let mut tree = host();
    domain(&mut tree, "one", "smp", None);
    domain(&mut tree, "two", "hello", Some(0x4860_0000));
    let claimed = claimed_ranges(&tree).unwrap();
    assert_eq!(claimed, [AddressRange::new(0x4860_0000, 64 * MIB).unwrap()]);
    let mut placer = Placer::new(0x4820_0000, 0xc000_0000, claimed);
    let modules = place_named_modules(&mut tree, &mut placer, &guests).unwrap();
    assert_eq!(
        modules,
        [
            Module {
                node: "/chosen/one/kernel".into(),
                range: AddressRange::new(0x4820_0000, 3 * MIB).unwrap(),
                file: "guests/smp.bin".into(),
            },
            Module {
                node: "/chosen/two/kernel".into(),
                range: AddressRange::new(0x4c60_0000, 0x1e000).unwrap(),
                file: "guests/hello.bin".into(),
            },
        ]
    );
    let kernel = tree.find("/chosen/two/kernel").unwrap();
    assert_eq!(
        tree.node(kernel).property("reg").unwrap().value(),
        cells_value(&[0x4c60_0000, 0x1e000]).as_slice(),
        "one address and one size cell, as the domain says"
    );
    assert!(tree.node(kernel).property(TEST_GUEST).is_none());

    let dtb = tree.to_dtb();
    let facts = HostFacts {
        hypervisor: AddressRange::new(0x4020_0000, 6 * MIB).unwrap(),
        boot_cpu_mpidr: Some(0),
        modules: None,
    };
    let plan = PartitionPlan::from_host_tree(&dtb, &facts).unwrap().plan;
    assert_eq!(plan.partitions.len(), 2);
    assert_eq!(plan.partitions[0].kernel.range.start(), 0x4820_0000);
}

#[test]
fn a_module_with_its_own_reg_stays_at_its_address_if_the_file_fits() {
    let mut tree = host();
    domain(&mut tree, "one", "hello", None);
    let kernel = tree.find("/chosen/one/kernel").unwrap();
    tree.set_property(kernel, "reg", cells_value(&[0x5000_0000, 0xff_ffff]));
    let claimed = claimed_ranges(&tree).unwrap();
    assert_eq!(claimed, [AddressRange::new(0x5000_0000, 0xff_ffff).unwrap()]);
    let mut placer = Placer::new(0x4820_0000, 0xc000_0000, claimed);
    let modules = place_named_modules(&mut tree, &mut placer, &guests).unwrap();
    assert_eq!(modules[0].range, AddressRange::new(0x5000_0000, 0x1e000).unwrap());
    assert_eq!(
        tree.node(kernel).property("reg").unwrap().value(),
        cells_value(&[0x5000_0000, 0x1e000]).as_slice(),
        "the address kept, the file's size"
    );

    // A file larger than the range the node gave does not fit there.
    let mut tree = host();
    domain(&mut tree, "one", "smp", None);
    let kernel = tree.find("/chosen/one/kernel").unwrap();
    tree.set_property(kernel, "reg", cells_value(&[0x5000_0000, 0x10_0000]));
    let mut placer = Placer::new(0x4820_0000, 0xc000_0000, Vec::new());
    let error = place_named_modules(&mut tree, &mut placer, &guests).unwrap_err();
    assert!(matches!(error, MergeError::TooSmall { size, given, .. } if size == 3 * MIB && given == MIB), "{error}");
}

#[test]
fn an_unknown_guest_or_full_ram_is_an_error() {
    let mut tree = host();
    domain(&mut tree, "one", "nosuch", None);
    let mut placer = Placer::new(0x4820_0000, 0xc000_0000, Vec::new());
    let error = place_named_modules(&mut tree, &mut placer, &guests).unwrap_err();
    assert!(
        matches!(&error, MergeError::UnknownGuest { node, guest } if node == "/chosen/one/kernel" && guest == "nosuch"),
        "{error}"
    );

    let mut tree = host();
    domain(&mut tree, "one", "smp", None);
    let mut placer = Placer::new(0x4820_0000, 0x4840_0000, Vec::new());
    let error = place_named_modules(&mut tree, &mut placer, &guests).unwrap_err();
    assert!(matches!(error, MergeError::NoRoom { size, .. } if size == 3 * MIB));
}

#[test]
fn the_fragment_follows_the_host_source_without_a_second_header() {
    let host = "/dts-v1/;\n\n/ {\n\tchosen {\n\t};\n};\n";
    let fragment = "/dts-v1/;\n/ { chosen { smp { }; }; };\n";
    let merged = merge_source(host, fragment);
    assert_eq!(merged.matches("/dts-v1/;").count(), 1);
    assert!(merged.starts_with(host.trim_end()));
    assert!(merged.ends_with("/ { chosen { smp { }; }; };\n"));
}

#[test]
fn a_toml_document_compiles_with_guest_files_from_the_guest_directory() {
    let dir = std::env::temp_dir().join(format!("xtask-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.bin"), vec![0u8; 0x1e000]).unwrap();
    let text = r#"
        [layout]
        module_base = "0x48200000"

        [[partition]]
        name = "hello"
        vcpus = 1
        memory = "64M"
        console = true
        kernel = { file = "hello.bin", bootargs = "guest.name=hello" }
    "#;
    let compiled = compile_toml(text, &host(), &dir, None).unwrap();
    assert_eq!(
        compiled
            .modules
            .first()
            .map(|(range, bytes)| (*range, bytes.len())),
        Some((AddressRange::new(0x4820_0000, 0x1e000).unwrap(), 0x1e000))
    );
    assert!(compiled.tree.find("/chosen/hello").is_some());

    let missing = compile_toml(
        &text.replace("hello.bin", "nosuch.bin"),
        &host(),
        &dir,
        None,
    );
    assert!(matches!(
        missing,
        Err(MergeError::Compile(CompileError::File { .. }))
    ));
    let bad = compile_toml("[[partition]]\nname = 3", &host(), &dir, None);
    assert!(matches!(bad, Err(MergeError::Toml { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Adds a two-vCPU domain with 256 MiB whose kernel and ramdisk name the Linux guest's files.
fn linux_domain(tree: &mut Tree, kernel: &str, ramdisk: &str) {
    let chosen = tree.find("/chosen").unwrap();
    tree.set_property(chosen, "#address-cells", cells_value(&[2]));
    tree.set_property(chosen, "#size-cells", cells_value(&[2]));
    let d = tree.add_node(chosen, "linux");
    tree.set_property(d, "compatible", strings_value(&["xen,domain"]));
    tree.set_property(d, "#address-cells", cells_value(&[2]));
    tree.set_property(d, "#size-cells", cells_value(&[2]));
    tree.set_property(d, "cpus", cells_value(&[2]));
    tree.set_property(d, "memory", cells_value(&[0, 0x40000]));
    for (name, compatible, file) in [
        ("kernel", "multiboot,kernel", kernel),
        ("ramdisk", "multiboot,ramdisk", ramdisk),
    ] {
        let module = tree.add_node(d, name);
        tree.set_property(
            module,
            "compatible",
            strings_value(&[compatible, "multiboot,module"]),
        );
        tree.set_property(module, LINUX_FILE, strings_value(&[file]));
    }
}

#[test]
fn a_linux_kernel_and_ramdisk_are_placed_whole_and_pass_the_validator() {
    let mut tree = host();
    linux_domain(&mut tree, "Image", "initramfs.cpio");
    let mut placer = Placer::new(0x4820_0000, 0xc000_0000, Vec::new());
    let modules = place_named_modules(&mut tree, &mut placer, &guests).unwrap();
    let ranges: Vec<AddressRange> = modules.iter().map(|m| m.range).collect();
    assert_eq!(
        ranges,
        [
            AddressRange::new(0x4820_0000, 32 * MIB + 0x1000).unwrap(),
            AddressRange::new(0x4a40_0000, 0x1c_3f1c).unwrap(),
        ],
        "the whole kernel file, then the ramdisk on the next 2 MiB boundary"
    );
    let ramdisk = tree.find("/chosen/linux/ramdisk").unwrap();
    assert!(tree.node(ramdisk).property(LINUX_FILE).is_none());
    let facts = HostFacts {
        hypervisor: AddressRange::new(0x4020_0000, 6 * MIB).unwrap(),
        boot_cpu_mpidr: Some(0),
        modules: None,
    };
    let plan = PartitionPlan::from_host_tree(&tree.to_dtb(), &facts)
        .unwrap()
        .plan;
    let linux = &plan.partitions[0];
    assert_eq!(linux.kernel.range.start(), 0x4820_0000);
    assert_eq!(
        linux.ramdisk.as_ref().map(|m| m.range.start()),
        Some(0x4a40_0000)
    );
}

#[test]
fn an_unknown_linux_file_is_an_error() {
    let mut tree = host();
    linux_domain(&mut tree, "Image", "rootfs.ext4");
    let mut placer = Placer::new(0x4820_0000, 0xc000_0000, Vec::new());
    let error = place_named_modules(&mut tree, &mut placer, &guests).unwrap_err();
    assert!(
        matches!(&error, MergeError::UnknownLinuxFile { node, file } if node == "/chosen/linux/ramdisk" && file == "rootfs.ext4"),
        "{error}"
    );
}

#[test]
fn configs_that_name_the_linux_guest_are_recognised() {
    assert!(names_linux("kernel { bulkhead,linux = \"Image\"; };"));
    assert!(names_linux("kernel = { file = \"linux/Image\" }"));
    assert!(!names_linux("kernel { bulkhead,test-guest = \"hello\"; };"));
    assert!(!names_linux(
        "name = \"linux\"\nkernel = { file = \"hello.bin\" }"
    ));
}

#[test]
fn a_toml_linux_file_is_read_from_the_linux_directory() {
    let dir = std::env::temp_dir().join(format!("xtask-merge-linux-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("linux")).unwrap();
    std::fs::write(dir.join("linux/Image"), vec![0u8; 0x3000]).unwrap();
    let text = r#"
        [layout]
        module_base = "0x48200000"

        [[partition]]
        name = "linux"
        vcpus = 2
        memory = "256M"
        console = true
        kernel = { file = "linux/Image", bootargs = "console=ttyAMA0" }
    "#;
    let guests = dir.join("guests");
    let compiled = compile_toml(text, &host(), &guests, Some(&dir.join("linux"))).unwrap();
    assert_eq!(compiled.modules[0].1.len(), 0x3000);
    assert!(matches!(
        compile_toml(text, &host(), &guests, None),
        Err(MergeError::Compile(CompileError::File { .. }))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shared_memory_host_ranges_are_claimed() {
    let mut tree = host();
    domain(&mut tree, "one", "smp", None);
    let d = tree.find("/chosen/one").unwrap();
    let shm = tree.add_node(d, "shm@50000000");
    tree.set_property(shm, "compatible", strings_value(&["xen,domain-shared-memory-v1"]));
    tree.set_property(shm, "xen,shm-id", strings_value(&["ring"]));
    tree.set_property(shm, "xen,shared-mem", cells_value(&[0x4820_0000, 0x5000_0000, 0x10_0000]));
    // The `<guest size>` form fixes no host memory.
    let loose = tree.add_node(d, "shm@60000000");
    tree.set_property(loose, "compatible", strings_value(&["xen,domain-shared-memory-v1"]));
    tree.set_property(loose, "xen,shared-mem", cells_value(&[0x6000_0000, 0x10_0000]));
    let claimed = claimed_ranges(&tree).unwrap();
    assert_eq!(claimed, [AddressRange::new(0x4820_0000, 0x10_0000).unwrap()]);
    let mut placer = Placer::new(0x4820_0000, 0xc000_0000, claimed);
    let modules = place_named_modules(&mut tree, &mut placer, &guests).unwrap();
    assert_eq!(modules[0].range.start(), 0x4840_0000, "the module goes past the region");
}
