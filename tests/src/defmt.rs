//! The console of a hypervisor built with its `defmt` feature: defmt frames (a zero byte,
//! the frame's rzCOBS bytes, a zero byte) among the partitions' text. [`Demux`] tells them
//! apart, [`Decoder`] turns a frame into its line with the ELF's symbols (`defmt-decoder`).

use std::fmt;
use std::path::{Path, PathBuf};

/// A piece of the console stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text bytes, as the console printed them.
    Text(Vec<u8>),
    /// One defmt frame's rzCOBS bytes, without its zero delimiters.
    Frame(Vec<u8>),
}

/// Splits the console stream into text and frames. Text never holds a zero byte (the
/// hypervisor shows control bytes in caret notation), and a frame's rzCOBS bytes hold none;
/// zero bytes in a row open one frame (the encoder sends one before its first frame).
#[derive(Debug, Default)]
pub struct Demux {
    in_frame: bool,
    pending: Vec<u8>,
}

/// Bytes a frame may have before the demultiplexer gives up on it and shows it as text (a
/// frame is a log line: a few hundred bytes at most).
pub const MAX_FRAME: usize = 64 * 1024;

impl Demux {
    /// Feeds bytes; returns the pieces they complete. Text is returned as it arrives (up to
    /// the chunk's end), a frame once its closing zero byte came.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for &byte in bytes {
            match (self.in_frame, byte) {
                (false, 0) => {
                    if !self.pending.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut self.pending)));
                    }
                    self.in_frame = true;
                }
                // Two zero bytes in a row (the encoder's own separator before its first
                // frame): still the start of one frame.
                (true, 0) if self.pending.is_empty() => {}
                (true, 0) => {
                    pieces.push(Piece::Frame(std::mem::take(&mut self.pending)));
                    self.in_frame = false;
                }
                (true, _) if self.pending.len() >= MAX_FRAME => {
                    // Not a frame after all: show what came as text.
                    pieces.push(Piece::Text(std::mem::take(&mut self.pending)));
                    self.in_frame = false;
                    self.pending.push(byte);
                }
                (_, b) => self.pending.push(b),
            }
        }
        if !self.in_frame && !self.pending.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut self.pending)));
        }
        pieces
    }
}

/// Why frames cannot be decoded.
#[derive(Debug)]
pub enum DecoderError {
    /// The ELF could not be read.
    Read { elf: PathBuf, error: std::io::Error },
    /// The ELF has no defmt table or an unreadable one.
    Table { elf: PathBuf, why: String },
}

impl fmt::Display for DecoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecoderError::Read { elf, error } => write!(f, "reading {}: {error}", elf.display()),
            DecoderError::Table { elf, why } => write!(
                f,
                "{}: {why}; build the hypervisor with its defmt feature (cargo xtask run --defmt builds it)",
                elf.display()
            ),
        }
    }
}

impl std::error::Error for DecoderError {}

/// Decodes the hypervisor's defmt frames with the strings its ELF interned.
pub struct Decoder {
    table: defmt_decoder::Table,
}

impl Decoder {
    /// Reads the defmt table of the hypervisor ELF at `elf`.
    pub fn from_elf(elf: &Path) -> Result<Self, DecoderError> {
        let bytes = std::fs::read(elf).map_err(|error| DecoderError::Read { elf: elf.to_path_buf(), error })?;
        match defmt_decoder::Table::parse(&bytes) {
            Ok(Some(table)) => Ok(Self { table }),
            Ok(None) => Err(DecoderError::Table { elf: elf.to_path_buf(), why: String::from("no .defmt section") }),
            Err(e) => Err(DecoderError::Table { elf: elf.to_path_buf(), why: e.to_string() }),
        }
    }

    /// The line a frame stands for, as the text build prints it, and the board's timestamp
    /// (microseconds since the counter started), or why it could not be decoded.
    pub fn decode(&self, frame: &[u8]) -> Result<(String, Option<String>), String> {
        let mut stream = self.table.new_stream_decoder();
        stream.received(frame);
        stream.received(&[0]);
        match stream.decode() {
            Ok(frame) => Ok((
                frame.display_message().to_string(),
                frame.display_timestamp().map(|t| t.to_string()),
            )),
            Err(e) => Err(format!("undecodable defmt frame of {} bytes ({e:?})", frame.len())),
        }
    }
}

/// How a decoded line begins: `[defmt T]` with the board's timestamp T in seconds.
pub const DECODED: &str = "[defmt ";

/// Turns the console stream of a defmt build into text: frames become their decoded lines
/// (each on a line of its own, after `[defmt T] `), text passes through.
pub struct Console {
    demux: Demux,
    decoder: Decoder,
    /// Whether the last text byte ended a line.
    at_line_start: bool,
}

impl Console {
    /// A console decoding with `decoder`.
    pub fn new(decoder: Decoder) -> Self {
        Self { demux: Demux::default(), decoder, at_line_start: true }
    }

    /// Feeds console bytes; returns the text to show for them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in self.demux.feed(bytes) {
            match piece {
                Piece::Text(text) => {
                    if let Some(&last) = text.last() {
                        self.at_line_start = last == b'\n';
                    }
                    out.extend_from_slice(&text);
                }
                Piece::Frame(frame) => {
                    if !self.at_line_start {
                        out.extend_from_slice(b"\r\n");
                    }
                    let line = match self.decoder.decode(&frame) {
                        Ok((line, time)) => format!("{DECODED}{}] {line}", time.as_deref().unwrap_or("?")),
                        Err(why) => format!("xtask: {why}"),
                    };
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_frames_are_told_apart_across_chunks() {
        let mut demux = Demux::default();
        let mut pieces = demux.feed(b"(a) hello\r\n\x00\x05\x06");
        pieces.extend(demux.feed(b"\x07\x00(a) x"));
        pieces.extend(demux.feed(b"y\x00\x00\x01\x00"));
        assert_eq!(
            pieces,
            [
                Piece::Text(b"(a) hello\r\n".to_vec()),
                Piece::Frame(vec![5, 6, 7]),
                Piece::Text(b"(a) x".to_vec()),
                Piece::Text(b"y".to_vec()),
                Piece::Frame(vec![1]),
            ]
        );
    }

    #[test]
    fn a_runaway_frame_falls_back_to_text() {
        let mut demux = Demux::default();
        let mut bytes = vec![0];
        bytes.extend(std::iter::repeat_n(b'x', MAX_FRAME + 1));
        let pieces = demux.feed(&bytes);
        assert_eq!(pieces.len(), 2);
        assert!(matches!(&pieces[0], Piece::Text(t) if t.len() == MAX_FRAME));
        assert_eq!(pieces[1], Piece::Text(b"x".to_vec()));
    }

    #[test]
    fn an_elf_without_defmt_is_refused_with_the_fix() {
        let elf = std::env::current_exe().expect("the test binary exists");
        let error = Decoder::from_elf(&elf).err().expect("a test binary has no defmt table");
        assert!(error.to_string().contains("defmt feature"), "{error}");
    }
}
