//! Register offsets and bits of the PL011 / SBSA Generic UART.
//!
//! Arm PrimeCell UART (PL011) Technical Reference Manual r1p5 (DDI 0183), section 3.2
//! "Summary of registers" and 3.3 "Register descriptions"; the SBSA Generic UART (Arm DEN0029,
//! appendix B) is the subset DR, RSR/ECR, FR, IMSC, RIS, MIS and ICR.

/// UARTDR: data.
pub const DR: u64 = 0x000;
/// UARTRSR (read) / UARTECR (write): receive status, error clear.
pub const RSR: u64 = 0x004;
/// UARTFR: flags.
pub const FR: u64 = 0x018;
/// UARTILPR: IrDA low-power counter (PL011 only; stored, no effect).
pub const ILPR: u64 = 0x020;
/// UARTIBRD: integer baud rate divisor (PL011 only; stored, no effect).
pub const IBRD: u64 = 0x024;
/// UARTFBRD: fractional baud rate divisor (PL011 only; stored, no effect).
pub const FBRD: u64 = 0x028;
/// UARTLCR_H: line control (PL011 only; stored, no effect).
pub const LCR_H: u64 = 0x02c;
/// UARTCR: control (PL011 only; stored, no effect: the UART is always enabled).
pub const CR: u64 = 0x030;
/// UARTIFLS: FIFO interrupt level select (PL011 only; sets the receive trigger level).
pub const IFLS: u64 = 0x034;
/// UARTIMSC: interrupt mask set/clear.
pub const IMSC: u64 = 0x038;
/// UARTRIS: raw interrupt status.
pub const RIS: u64 = 0x03c;
/// UARTMIS: masked interrupt status.
pub const MIS: u64 = 0x040;
/// UARTICR: interrupt clear (write only).
pub const ICR: u64 = 0x044;
/// UARTDMACR: DMA control (PL011 only; stored, no effect).
pub const DMACR: u64 = 0x048;
/// UARTPeriphID0: the first of four peripheral and four PrimeCell identification registers.
pub const PERIPH_ID0: u64 = 0xfe0;

/// The identification bytes at 0xFE0 to 0xFFC: part 0x011, designer Arm (0x41),
/// revision 3 (r1p5, 32-entry FIFOs), then the PrimeCell ID 0xB105F00D.
pub const ID_BYTES: [u8; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// UARTFR.BUSY: transmitting.
pub const FR_BUSY: u32 = 1 << 3;
/// UARTFR.RXFE: receive FIFO empty.
pub const FR_RXFE: u32 = 1 << 4;
/// UARTFR.TXFF: transmit FIFO full.
pub const FR_TXFF: u32 = 1 << 5;
/// UARTFR.RXFF: receive FIFO full.
pub const FR_RXFF: u32 = 1 << 6;
/// UARTFR.TXFE: transmit FIFO empty.
pub const FR_TXFE: u32 = 1 << 7;

/// UARTRSR.OE: overrun error.
pub const RSR_OE: u32 = 1 << 3;

/// Interrupt bit RX (receive) in RIS, MIS, IMSC and ICR.
pub const INT_RX: u32 = 1 << 4;
/// Interrupt bit TX (transmit).
pub const INT_TX: u32 = 1 << 5;
/// Interrupt bit RT (receive timeout).
pub const INT_RT: u32 = 1 << 6;
/// Interrupt bit OE (overrun error).
pub const INT_OE: u32 = 1 << 10;
/// Every interrupt bit (RI, CTS, DCD, DSR modem bits, RX, TX, RT, FE, PE, BE, OE).
pub const INT_ALL: u32 = 0x7ff;

/// UARTCR reset value: TXE and RXE set (TRM 3.3.8).
pub const CR_RESET: u32 = 0x300;
/// UARTIFLS reset value: both trigger levels at half full (TRM 3.3.9).
pub const IFLS_RESET: u32 = 0x12;
