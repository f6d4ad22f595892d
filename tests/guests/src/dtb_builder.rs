//! Test helper: writes small device tree blobs, well-formed or deliberately broken.

use std::vec::Vec;

/// Builds a DTB token by token.
pub struct DtbBuilder {
    structure: Vec<u8>,
    strings: Vec<u8>,
}

impl DtbBuilder {
    pub fn new() -> Self {
        Self {
            structure: Vec::new(),
            strings: Vec::new(),
        }
    }

    fn word(&mut self, word: u32) -> &mut Self {
        self.structure.extend_from_slice(&word.to_be_bytes());
        self
    }

    fn pad(&mut self) {
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
    }

    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.word(1);
        self.structure.extend_from_slice(name.as_bytes());
        self.structure.push(0);
        self.pad();
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.word(2)
    }

    pub fn nop(&mut self) -> &mut Self {
        self.word(4)
    }

    pub fn raw_token(&mut self, token: u32) -> &mut Self {
        self.word(token)
    }

    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let name_offset = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.word(3).word(value.len() as u32).word(name_offset);
        self.structure.extend_from_slice(value);
        self.pad();
        self
    }

    pub fn prop_u32s(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let value: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &value)
    }

    pub fn prop_str(&mut self, name: &str, text: &str) -> &mut Self {
        let mut value = text.as_bytes().to_vec();
        value.push(0);
        self.prop(name, &value)
    }

    /// Appends `FDT_END` and the header; returns the blob.
    pub fn finish(&mut self) -> Vec<u8> {
        self.word(9);
        let header = 40u32;
        let reserve_map = header;
        let structure_offset = reserve_map + 16;
        let strings_offset = structure_offset + self.structure.len() as u32;
        let total = strings_offset + self.strings.len() as u32;
        let mut blob = Vec::new();
        for word in [
            0xd00d_feed,
            total,
            structure_offset,
            strings_offset,
            reserve_map,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structure.len() as u32,
        ] {
            blob.extend_from_slice(&u32::to_be_bytes(word));
        }
        blob.extend_from_slice(&[0; 16]);
        blob.extend_from_slice(&self.structure);
        blob.extend_from_slice(&self.strings);
        blob
    }
}

/// A tree shaped like the one QEMU `virt` gives a guest: 256 MiB of RAM, two CPUs, PSCI over
/// HVC, a PL011, and NOP tokens sprinkled in.
pub fn virt_like(bootargs: &str) -> Vec<u8> {
    let mut b = DtbBuilder::new();
    b.begin("")
        .prop_u32s("#address-cells", &[2])
        .prop_u32s("#size-cells", &[2]);
    b.prop_str("compatible", "linux,dummy-virt");
    b.begin("psci")
        .prop("compatible", b"arm,psci-1.0\0arm,psci-0.2\0arm,psci\0");
    b.prop_str("method", "hvc").end();
    b.begin("memory@40000000").prop_str("device_type", "memory");
    b.prop_u32s("reg", &[0, 0x4000_0000, 0, 0x1000_0000]).end();
    b.nop();
    b.begin("pl011@9000000")
        .prop("compatible", b"arm,pl011\0arm,primecell\0");
    b.prop_u32s("reg", &[0, 0x0900_0000, 0, 0x1000]).end();
    b.begin("cpus")
        .prop_u32s("#address-cells", &[1])
        .prop_u32s("#size-cells", &[0]);
    b.begin("cpu@0")
        .prop_str("device_type", "cpu")
        .prop_u32s("reg", &[0])
        .end();
    b.nop();
    b.begin("cpu@1")
        .prop_str("device_type", "cpu")
        .prop_u32s("reg", &[1])
        .end();
    b.end();
    b.begin("chosen").prop_str("bootargs", bootargs);
    b.prop_str("stdout-path", "/pl011@9000000").end();
    b.end();
    b.finish()
}
