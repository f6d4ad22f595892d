//! Carries a decoded guest load or store out on a virtual PL011 mapped at `base`.

use super::device::{TransmitSink, Vpl011};
use super::{Vpl011Error, REGION_SIZE};
use crate::portable::trap::{GeneralRegisters, MmioAccess};

impl Vpl011 {
    /// Performs `access` (decoded from the guest's data abort) on this UART mapped at IPA
    /// `base`: a store takes its value from the guest's register, a load leaves the
    /// register value as the instruction defines it (size, sign extension, SF).
    ///
    /// On an error nothing has changed; the caller injects an abort into the guest.
    pub fn emulate(
        &mut self,
        access: MmioAccess,
        base: u64,
        registers: &mut impl GeneralRegisters,
        sink: &mut impl TransmitSink,
    ) -> Result<(), Vpl011Error> {
        let offset = access.ipa.wrapping_sub(base);
        if offset >= REGION_SIZE {
            return Err(Vpl011Error::BadOffset { offset });
        }
        if access.write {
            self.write(offset, access.size, access.store_value(registers), sink)
        } else {
            let value = self.read(offset, access.size, sink.backlog())?;
            access.complete_load(registers, value);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portable::trap::{DataAbort, RegisterFile, Esr};
    use crate::portable::vpl011::registers::{FR, FR_RXFE, FR_TXFE};

    const BASE: u64 = 0x2200_0000;

    /// Decodes a data abort at `BASE + offset`, as the trap path would.
    fn decode(esr: u64, offset: u64) -> MmioAccess {
        let ipa = BASE + offset;
        let abort = DataAbort::new(Esr(esr)).unwrap();
        abort.mmio_access(ipa & 0xfff, (ipa >> 12) << 4).unwrap()
    }

    #[test]
    fn a_guest_byte_store_is_transmitted() {
        let mut uart = Vpl011::new();
        let mut registers = RegisterFile::default();
        registers.x[5] = 0xffff_ff41;
        let mut sent = Vec::new();
        // strb w5, [x0]
        let access = decode(0x9305_0046, 0);
        uart.emulate(access, BASE, &mut registers, &mut |byte| sent.push(byte))
            .unwrap();
        assert_eq!(sent, b"A");
    }

    #[test]
    fn a_guest_word_load_of_the_flags_lands_in_its_register() {
        let mut uart = Vpl011::new();
        let mut registers = RegisterFile { x: [u64::MAX; 31] };
        // ldr w1, [x0]
        let access = decode(0x9381_0006, FR);
        uart.emulate(access, BASE, &mut registers, &mut |_| {})
            .unwrap();
        assert_eq!(registers.x[1], u64::from(FR_TXFE | FR_RXFE));
    }

    #[test]
    fn a_guest_received_byte_read_with_ldrsb_is_sign_extended() {
        let mut uart = Vpl011::new();
        uart.receive(0xe9).unwrap();
        let mut registers = RegisterFile::default();
        // ldrsb x3, [x0]
        let access = decode(0x9323_8006, 0);
        uart.emulate(access, BASE, &mut registers, &mut |_| {})
            .unwrap();
        assert_eq!(registers.x[3], 0xffff_ffff_ffff_ffe9);
    }

    #[test]
    fn a_64_bit_access_is_refused_without_side_effects() {
        let mut uart = Vpl011::new();
        uart.receive(b'k').unwrap();
        let mut registers = RegisterFile::default();
        // ldr x1, [x0]
        let access = decode(0x93c1_8006, 0);
        assert_eq!(
            uart.emulate(access, BASE, &mut registers, &mut |_| {}),
            Err(Vpl011Error::BadSize { offset: 0, size: 8 })
        );
        assert_eq!(registers, RegisterFile::default());
        assert_eq!(uart.pending_input(), 1);
    }

    #[test]
    fn an_access_outside_the_page_is_a_bad_offset() {
        let mut uart = Vpl011::new();
        let mut access = decode(0x9381_0006, 0);
        access.ipa = BASE - 4;
        let result = uart.emulate(access, BASE, &mut RegisterFile::default(), &mut |_| {});
        assert_eq!(
            result,
            Err(Vpl011Error::BadOffset {
                offset: (BASE - 4).wrapping_sub(BASE)
            })
        );
    }
}
