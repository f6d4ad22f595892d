//! Round trips of the TOML authoring format: TOML -> DTB -> plan -> TOML, and module layout.
#![cfg(feature = "cli")]

mod common;

use dom0less_config::authoring::{compile, decompile, CompileError, Document};
use dom0less_config::devicetree::{AddressRange, Tree};
use dom0less_config::{HostFacts, PartitionPlan, Validated};

fn host() -> Tree {
    Tree::parse(&common::compile("host")).expect("host fixture parses")
}

fn no_files(name: &str) -> Result<Vec<u8>, String> {
    Err(format!("no file {name} in this test"))
}

fn validate(tree: &Tree) -> Validated {
    PartitionPlan::from_tree(tree, &HostFacts::default())
        .unwrap_or_else(|e| panic!("rejected: {e:#?}"))
}

/// Compiles `doc` onto the host tree through a DTB blob and returns the recovered document.
fn through_dtb(doc: &Document) -> (Validated, Document) {
    let compiled = compile(doc, &host(), &no_files).expect("compiles");
    let tree = Tree::parse(&compiled.tree.to_dtb()).expect("emitted blob parses");
    let validated = validate(&tree);
    let back = decompile(&validated.plan);
    (validated, back)
}

#[test]
fn every_valid_fixture_round_trips() {
    for name in [
        "valid-two-linux",
        "valid-cpupools",
        "valid-static-mem",
        "valid-channels",
    ] {
        let original = validate(&Tree::parse(&common::compile(name)).expect("fixture parses"));
        let doc = decompile(&original.plan);
        let text = toml::to_string_pretty(&doc).expect("serialises");
        let reparsed: Document = toml::from_str(&text).expect("TOML parses back");
        assert_eq!(reparsed, doc, "{name}: TOML text round trip");
        let (validated, back) = through_dtb(&reparsed);
        assert_eq!(back, doc, "{name}: TOML -> DTB -> plan -> TOML");
        assert_eq!(
            validated.plan.partitions.len(),
            original.plan.partitions.len()
        );
        assert_eq!(
            validated.plan.shared_regions, original.plan.shared_regions,
            "{name}"
        );
    }
}

#[test]
fn example_document_compiles_with_computed_addresses() {
    let text =
        std::fs::read_to_string(common::testdata().join("example.toml")).expect("example exists");
    let doc: Document = toml::from_str(&text).expect("example parses");
    let (validated, back) = through_dtb(&doc);
    let plan = &validated.plan;
    let control = &plan.partitions[0];
    // The first kernel goes 128 MiB into RAM, 2 MiB aligned; the next modules follow it.
    assert_eq!(
        control.kernel.range,
        AddressRange::new(0x4800_0000, 12 << 20).unwrap()
    );
    assert_eq!(
        plan.partitions[1].kernel.range.start(),
        0x4800_0000 + (12 << 20)
    );
    let ramdisk = plan.partitions[1].ramdisk.as_ref().expect("ramdisk");
    assert_eq!(ramdisk.range.start(), 0x4800_0000 + (42 << 20));
    assert_eq!(
        (control.priority, control.crash_policy.name()),
        (200, "restart")
    );
    let linux = &plan.partitions[1];
    assert_eq!((linux.weight, linux.cap_percent), (512, 150));
    assert_eq!((control.weight, control.cap_percent), (256, 0), "defaults");
    assert_eq!(
        (back.partitions[1].weight, back.partitions[1].cap),
        (Some(512), Some(150))
    );
    assert_eq!(
        (back.partitions[0].weight, back.partitions[0].cap),
        (None, None)
    );
    assert_eq!(control.vcpus[1].placement.map(|p| p.cpu), Some(3));
    assert_eq!(control.vcpus[0].placement.map(|p| p.cpu), Some(2));
    // The recovered document compiles to the same plan again.
    let (again, _) = through_dtb(&back);
    // Phandles given to CPUs may differ; everything the partitions see is the same.
    assert_eq!(again.plan.partitions, validated.plan.partitions);
    assert_eq!(again.plan.pools, validated.plan.pools);
    assert_eq!(again.plan.shared_regions, validated.plan.shared_regions);
}

#[test]
fn module_files_give_sizes() {
    let mut doc: Document = toml::from_str(
        r#"
        [[partition]]
        name = "tiny"
        vcpus = 1
        memory = "16M"
        kernel = { file = "Image" }
        "#,
    )
    .expect("parses");
    let read = |name: &str| {
        if name == "Image" {
            Ok(vec![0u8; 5000])
        } else {
            Err(String::from("missing"))
        }
    };
    let compiled = compile(&doc, &host(), &read).expect("compiles");
    let plan = validate(&compiled.tree).plan;
    assert_eq!(
        plan.partitions[0].kernel.range,
        AddressRange::new(0x4800_0000, 5000).unwrap()
    );
    assert_eq!(compiled.modules[0].1.len(), 5000);
    doc.partitions[0].pool = Some(String::from("nowhere"));
    assert!(matches!(
        compile(&doc, &host(), &read),
        Err(CompileError::UnknownName { .. })
    ));
}

#[test]
fn unknown_toml_keys_are_rejected() {
    let result: Result<Document, _> =
        toml::from_str("[[partition]]\nname = \"a\"\nvcpus = 1\nvcpu_count = 2\n");
    assert!(result.is_err());
}

#[test]
fn a_partial_tree_marks_the_host_devices_it_passes_through() {
    let doc: Document = toml::from_str(
        r#"
        [[partition]]
        name = "owner"
        vcpus = 1
        memory = "16M"
        kernel = { file = "Image" }
        device_tree = { file = "partial.dtb" }
        "#,
    )
    .expect("parses");
    let partial = common::compile_source(
        "/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>;\n\
         passthrough { compatible = \"simple-bus\"; ranges; #address-cells = <2>; #size-cells = <2>;\n\
         serial@10000000 { xen,path = \"/soc/serial@7e201600\"; };\n\
         gone@20000000 { xen,path = \"/soc/nothing@0\"; }; }; };\n",
    );
    let read = |name: &str| match name {
        "Image" => Ok(vec![0u8; 4096]),
        "partial.dtb" => Ok(partial.clone()),
        _ => Err(String::from("missing")),
    };
    let host = host();
    let uart = host.find("/soc/serial@7e201600").expect("host fixture has UART2");
    assert!(host.node(uart).property("xen,passthrough").is_none());
    let compiled = compile(&doc, &host, &read).expect("compiles");
    let uart = compiled.tree.find("/soc/serial@7e201600").unwrap();
    assert!(compiled.tree.node(uart).property("xen,passthrough").is_some());
    // A path the host does not have is left for the validator to name.
    assert!(compiled.tree.find("/soc/nothing@0").is_none());
}
