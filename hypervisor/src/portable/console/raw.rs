//! The focused partition's output, shown as it comes so that a shell's line editing works, but
//! filtered so that the guest cannot leave its own line: it cannot move the cursor left of the
//! end of its `(name) ` prefix, up, down or to a fixed place, erase what is left of the cursor
//! or the whole screen, or send a C1 control. So no guest can draw a line that starts like the
//! hypervisor's focus banner, `(Bulkhead) *** Serial input to ...`, or another partition's.
//!
//! Let through: printable bytes (UTF-8 included), tab, backspace while the cursor is right of
//! the prefix, and the CSI sequences a line editor uses that stay on the line: `ESC [ ... m`
//! (colours), `ESC [ K` / `ESC [ 0 K` (erase to the right), `ESC [ n C` (right) and
//! `ESC [ n D` (left, cut to the columns the guest wrote). Anything else is shown in caret
//! notation (`^[`), and a C1 control in UTF-8 (U+0080 to U+009F, which some terminals obey
//! as ESC sequences) as `<U+009B>`.

use super::ConsoleSink;

/// Parameter bytes kept for one CSI sequence; a longer one is shown escaped.
const PARAMETERS: usize = 16;

/// Where the filter is in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Ordinary text.
    Text,
    /// After ESC.
    Escape,
    /// After `ESC [`, with the parameter bytes so far.
    Csi { parameters: [u8; PARAMETERS], len: usize },
    /// After 0xC2, the first byte of a two-byte UTF-8 sequence that may encode a C1 control.
    Utf8Lead,
}

/// The filter for the partition that holds the focus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFilter {
    state: State,
    /// Columns written since the prefix, never more than the cursor really moved (a tab
    /// counts one): the cursor may go back this far and no further.
    column: usize,
}

impl Default for RawFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl RawFilter {
    /// A filter at the start of a line, just after the prefix.
    pub const fn new() -> Self {
        Self { state: State::Text, column: 0 }
    }

    /// A new prefix was written: the cursor is at the start of the guest's part of a line.
    /// A sequence left unfinished is dropped.
    pub fn start_line(&mut self) {
        *self = Self::new();
    }

    /// Writes what `byte` becomes to `sink`. A newline is the caller's (it ends the line).
    pub fn push(&mut self, byte: u8, sink: &mut impl ConsoleSink) {
        match self.state {
            State::Text => self.text(byte, sink),
            State::Utf8Lead => {
                self.state = State::Text;
                if (0x80..=0x9f).contains(&byte) {
                    write_c1(byte, sink);
                } else {
                    sink.write_bytes(&[0xc2]);
                    self.column = self.column.saturating_add(1);
                    self.text(byte, sink);
                }
            }
            State::Escape => {
                if byte == b'[' {
                    self.state = State::Csi { parameters: [0; PARAMETERS], len: 0 };
                } else {
                    self.state = State::Text;
                    sink.write_bytes(b"^[");
                    self.text(byte, sink);
                }
            }
            State::Csi { mut parameters, len } => {
                let parameter = byte.is_ascii_digit() || byte == b';';
                if parameter && len < PARAMETERS {
                    parameters[len] = byte;
                    self.state = State::Csi { parameters, len: len.saturating_add(1) };
                    return;
                }
                self.state = State::Text;
                let parameters = &parameters[..len];
                if parameter {
                    // Too long: show what came, and this byte, as text.
                    sink.write_bytes(b"^[[");
                    sink.write_bytes(parameters);
                    self.text(byte, sink);
                } else {
                    self.csi(parameters, byte, sink);
                }
            }
        }
    }

    fn text(&mut self, byte: u8, sink: &mut impl ConsoleSink) {
        match byte {
            0x1b => self.state = State::Escape,
            0xc2 => self.state = State::Utf8Lead,
            0x08 if self.column > 0 => {
                self.column = self.column.saturating_sub(1);
                sink.write_bytes(&[byte]);
            }
            b'\t' => {
                self.column = self.column.saturating_add(1);
                sink.write_bytes(&[byte]);
            }
            0x00..=0x1f | 0x7f => sink.write_bytes(&[b'^', byte ^ 0x40]),
            // UTF-8 continuation bytes take no column of their own.
            0x80..=0xbf => sink.write_bytes(&[byte]),
            _ => {
                self.column = self.column.saturating_add(1);
                sink.write_bytes(&[byte]);
            }
        }
    }

    /// A whole CSI sequence: let through if it stays on the line, else show it escaped.
    fn csi(&mut self, parameters: &[u8], last: u8, sink: &mut impl ConsoleSink) {
        let count = || parse_count(parameters);
        match last {
            b'm' => {}
            b'K' if parameters.is_empty() || parameters == b"0" => {}
            b'C' => {
                if let Some(n) = count() {
                    self.column = self.column.saturating_add(n);
                } else {
                    return escaped(parameters, last, sink);
                }
            }
            b'D' => {
                let Some(n) = count().map(|n| n.min(self.column)) else { return escaped(parameters, last, sink) };
                if n == 0 {
                    return;
                }
                self.column = self.column.saturating_sub(n);
                sink.write_bytes(b"\x1b[");
                write_decimal(n, sink);
                sink.write_bytes(b"D");
                return;
            }
            _ => return escaped(parameters, last, sink),
        }
        sink.write_bytes(b"\x1b[");
        sink.write_bytes(parameters);
        sink.write_bytes(&[last]);
    }
}

/// A cursor movement's count: empty or 0 means 1; `None` if it is not one number.
fn parse_count(parameters: &[u8]) -> Option<usize> {
    if parameters.is_empty() {
        return Some(1);
    }
    let mut n: usize = 0;
    for &digit in parameters {
        if !digit.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(usize::from(digit.saturating_sub(b'0')));
    }
    Some(n.max(1))
}

fn escaped(parameters: &[u8], last: u8, sink: &mut impl ConsoleSink) {
    sink.write_bytes(b"^[[");
    sink.write_bytes(parameters);
    if last < 0x20 || last == 0x7f {
        sink.write_bytes(&[b'^', last ^ 0x40]);
    } else {
        sink.write_bytes(&[last]);
    }
}

/// Shows C1 control `byte` (U+0080 to U+009F) as `<U+00XX>`.
pub(super) fn write_c1(byte: u8, sink: &mut impl ConsoleSink) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    sink.write_bytes(b"<U+00");
    sink.write_bytes(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]);
    sink.write_bytes(b">");
}

/// Writes `n` in decimal, without allocating.
// At most 20 digits of a usize fill the buffer from its end; `rest % 10` is below 10.
#[allow(clippy::arithmetic_side_effects)]
fn write_decimal(n: usize, sink: &mut impl ConsoleSink) {
    let mut buffer = [0u8; 20];
    let mut at = buffer.len();
    let mut rest = n;
    loop {
        at -= 1;
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    sink.write_bytes(&buffer[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn filter(bytes: &[u8]) -> Vec<u8> {
        let mut raw = RawFilter::new();
        let mut out = Vec::new();
        for &b in bytes {
            raw.push(b, &mut |x: &[u8]| out.extend_from_slice(x));
        }
        out
    }

    #[test]
    fn text_tab_and_utf8_pass() {
        assert_eq!(filter("a\tb é €".as_bytes()), "a\tb é €".as_bytes());
    }

    #[test]
    fn a_line_editor_works_within_the_line() {
        assert_eq!(filter(b"abc\x08\x08\x1b[K\x1b[1D\x1b[2C\x1b[0;32mok\x1b[m"), b"abc\x08\x08\x1b[K\x1b[1D\x1b[2C\x1b[0;32mok\x1b[m");
    }

    #[test]
    fn the_cursor_cannot_go_left_of_the_prefix() {
        assert_eq!(filter(b"ab\x08\x08\x08x"), b"ab\x08\x08^Hx", "a third backspace would reach the prefix");
        assert_eq!(filter(b"abc\x1b[99D"), b"abc\x1b[3D", "cut to the columns written");
        assert_eq!(filter(b"\x1b[D"), b"", "nothing written yet: no move");
    }

    #[test]
    fn the_focus_banner_cannot_be_forged() {
        // Back to column 0 and over the prefix, erase the line, move up, absolute moves,
        // carriage return: all shown, none obeyed.
        let forged = b"\x1b[2K\x1b[1K\x1b[G\x1b[1;1H\x1b[A\x1bM\r(Bulkhead) *** Serial input to Bulkhead";
        let out = filter(forged);
        assert!(!out.contains(&0x1b) && !out.contains(&b'\r') && !out.contains(&0x08), "{:?}", core::str::from_utf8(&out));
        assert_eq!(out, b"^[[2K^[[1K^[[G^[[1;1H^[[A^[M^M(Bulkhead) *** Serial input to Bulkhead");
    }

    #[test]
    fn c1_controls_are_shown() {
        assert_eq!(filter(&[b'a', 0xc2, 0x9b, b'2', b'J', 0xc2, 0xa9]), "a<U+009B>2J©".as_bytes());
    }

    #[test]
    fn a_long_or_odd_sequence_is_shown() {
        assert_eq!(filter(b"\x1b[11111111111111111111m"), b"^[[11111111111111111111m");
        assert_eq!(filter(b"\x1b[?25l"), b"^[[?25l");
    }

    #[test]
    fn a_new_line_drops_an_unfinished_sequence() {
        let mut raw = RawFilter::new();
        let mut out = Vec::new();
        for &b in b"ab\x1b[" {
            raw.push(b, &mut |x: &[u8]| out.extend_from_slice(x));
        }
        raw.start_line();
        for &b in b"\x1b[D" {
            raw.push(b, &mut |x: &[u8]| out.extend_from_slice(x));
        }
        assert_eq!(out, b"ab");
    }
}
