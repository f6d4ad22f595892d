//! The hypervisor's own console: what the operator types while the hypervisor has the input
//! focus (CTRL-a three times cycles the focus to it), as lines of commands, and the answers'
//! layout. Pure: the runtime (`vm::operator`) feeds it keys and the figures it reads.
//!
//! Commands answer at once and never stop a partition to answer. Those that change state
//! (`stop`, `start`, `restart`) can be refused for a deployed board
//! (`bulkhead,console-control = "read-only"`).

use core::fmt::{self, Write};

#[cfg(test)]
mod tests;

/// The longest command line kept; more is dropped (and the line refused).
pub const LINE: usize = 80;

/// What one key did to the line being typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// Echo these bytes (the key itself, or the erase of the last one).
    Echo(&'static [u8]),
    /// Echo the key as typed.
    EchoKey(u8),
    /// A whole line was entered (the echo is a line end).
    Line(heapless::String<LINE>),
    /// A line longer than [`LINE`] was entered: it is refused whole.
    TooLong,
    /// Nothing to show (an ignored control byte, or a line already full).
    Nothing,
}

/// The line the operator is typing.
#[derive(Debug, Default)]
pub struct LineEditor {
    line: heapless::String<LINE>,
    /// More was typed than fits: the line is refused when entered.
    overflowed: bool,
}

/// A line that did not fit.
pub const TOO_LONG: &str = "bulkhead: that line is too long; commands are short (type help)";

impl LineEditor {
    /// An empty line.
    pub const fn new() -> Self {
        Self { line: heapless::String::new(), overflowed: false }
    }

    /// Takes one key: printable ASCII is added and echoed, backspace or DEL erases, CR or LF
    /// ends the line; other control bytes (and escape sequences' bytes) are ignored.
    pub fn key(&mut self, byte: u8) -> Key {
        match byte {
            b'\r' | b'\n' => {
                let line = core::mem::take(&mut self.line);
                let overflowed = core::mem::replace(&mut self.overflowed, false);
                if overflowed {
                    return Key::TooLong;
                }
                Key::Line(line)
            }
            0x08 | 0x7f => match self.line.pop() {
                Some(_) => Key::Echo(b"\x08 \x08"),
                None => Key::Nothing,
            },
            0x20..=0x7e => {
                if self.line.push(char::from(byte)).is_err() {
                    self.overflowed = true;
                    return Key::Nothing;
                }
                Key::EchoKey(byte)
            }
            _ => Key::Nothing,
        }
    }
}

/// A command line, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Help,
    /// Every partition with its figures.
    List,
    /// CPU pools and their schedulers.
    Pools,
    /// Host RAM: hypervisor, partitions, free.
    Mem,
    /// Interrupt counts per CPU and per partition.
    Irq,
    /// The hypervisor's recent messages.
    Log,
    /// Every CPU's and vCPU's state (as the debug key did).
    Dump,
    Stop(&'a str),
    Start(&'a str),
    Restart(&'a str),
    Focus(&'a str),
}

impl Command<'_> {
    /// Whether it changes what runs (refused when the console is read-only).
    pub const fn changes_state(&self) -> bool {
        matches!(self, Self::Stop(_) | Self::Start(_) | Self::Restart(_))
    }
}

/// Why a line is not a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// No such command.
    Unknown(&'a str),
    /// The command needs a partition name.
    MissingName(&'static str),
    /// Words after a complete command.
    Extra(&'a str),
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(word) => write!(f, "bulkhead: unknown command \"{word}\"; type help for the list"),
            Self::MissingName(command) => write!(f, "bulkhead: {command} needs a partition name: {command} NAME (list shows them)"),
            Self::Extra(word) => write!(f, "bulkhead: unexpected \"{word}\" after the command; type help"),
        }
    }
}

/// Parses a line; `None` for an empty one.
pub fn parse(line: &str) -> Result<Option<Command<'_>>, ParseError<'_>> {
    let mut words = line.split_ascii_whitespace();
    let Some(word) = words.next() else { return Ok(None) };
    let command = match word {
        "help" | "?" => Command::Help,
        "list" | "ls" => Command::List,
        "pools" => Command::Pools,
        "mem" => Command::Mem,
        "irq" => Command::Irq,
        "log" => Command::Log,
        "dump" => Command::Dump,
        "stop" | "start" | "restart" | "focus" => {
            let word = match word {
                "stop" => "stop",
                "start" => "start",
                "restart" => "restart",
                _ => "focus",
            };
            let name = words.next().ok_or(ParseError::MissingName(word))?;
            match word {
                "stop" => Command::Stop(name),
                "start" => Command::Start(name),
                "restart" => Command::Restart(name),
                _ => Command::Focus(name),
            }
        }
        other => return Err(ParseError::Unknown(other)),
    };
    match words.next() {
        Some(extra) => Err(ParseError::Extra(extra)),
        None => Ok(Some(command)),
    }
}

/// The `help` text, one line per command.
pub const HELP: &[&str] = &[
    "bulkhead: commands:",
    "bulkhead:   list           every partition: id, state, vcpus and where they run, pool, RAM, uptime, cpu time, restarts",
    "bulkhead:   stop NAME      stop a partition (its vcpus leave their cpus)",
    "bulkhead:   start NAME     start a stopped partition from its pristine modules",
    "bulkhead:   restart NAME   restart a partition, memory scrubbed",
    "bulkhead:   focus NAME     give a partition the console input (CTRL-a three times comes back)",
    "bulkhead:   pools          cpu pools, their schedulers and cpus",
    "bulkhead:   mem            host RAM: hypervisor, partitions, free",
    "bulkhead:   irq            interrupts taken per cpu, the UART's transmit figures, injected per partition",
    "bulkhead:   log            the hypervisor's recent messages",
    "bulkhead:   dump           every cpu's and vcpu's state",
];

/// One vCPU in `list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuRow {
    /// Its state, as a word (`running`, `waiting`, `off`, ...).
    pub state: &'static str,
    /// The CPU it is on (running, or waiting in place), if any.
    pub cpu: Option<usize>,
    /// Milliseconds on a CPU.
    pub cpu_ms: u64,
}

/// One partition in `list`.
#[derive(Clone, Copy, Debug)]
pub struct PartitionRow<'a> {
    /// Its domain id (1, 2, ... in `/chosen` order, as Xen's).
    pub id: usize,
    pub name: &'a str,
    pub running: bool,
    pub pool: &'a str,
    pub scheduler: &'a str,
    pub ram_bytes: u64,
    /// Milliseconds since its last (re)start, while it runs.
    pub uptime_ms: Option<u64>,
    pub restarts: u32,
    pub last_crash: Option<&'a str>,
    /// Why it stays stopped, if the hypervisor keeps it so (its restart limit).
    pub held: Option<&'a str>,
    /// A crash restart waiting out its back-off, if one is.
    pub backoff: Option<BackoffRow>,
    /// Its console-output deadline (`bulkhead,heartbeat-ms`), if watched.
    pub heartbeat_ms: Option<u32>,
    pub vcpus: &'a [VcpuRow],
}

/// A crash restart waiting out its back-off, in `list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffRow {
    /// Milliseconds left before it restarts.
    pub remaining_ms: u64,
    /// The whole back-off.
    pub delay_ms: u64,
    /// Which crash restart in a row it is, and the limit.
    pub restart: u32,
    pub limit: u32,
}

/// Writes one partition's `list` lines: a summary, then one line per vCPU.
pub fn write_partition(out: &mut impl Write, row: &PartitionRow<'_>) -> fmt::Result {
    write!(
        out,
        "bulkhead:   {} {}: {}, {} vcpu{}, pool {} ({}), {} MiB",
        row.id,
        row.name,
        match (row.running, row.backoff) {
            (true, Some(_)) => "waiting to restart",
            (true, None) => "running",
            (false, _) => "stopped",
        },
        row.vcpus.len(),
        if row.vcpus.len() == 1 { "" } else { "s" },
        row.pool,
        row.scheduler,
        row.ram_bytes >> 20,
    )?;
    if let Some(ms) = row.uptime_ms.filter(|_| row.backoff.is_none()) {
        write!(out, ", up ")?;
        write_duration(out, ms)?;
    }
    if let Some(backoff) = row.backoff {
        write!(out, ", restart in ")?;
        write_duration(out, backoff.remaining_ms)?;
        write!(out, " (back-off ")?;
        write_duration(out, backoff.delay_ms)?;
        write!(out, " before crash restart {} of at most {})", backoff.restart, backoff.limit)?;
    }
    if let Some(ms) = row.heartbeat_ms {
        write!(out, ", heartbeat ")?;
        write_duration(out, u64::from(ms))?;
    }
    write!(out, ", {} restart{}", row.restarts, if row.restarts == 1 { "" } else { "s" })?;
    if let Some(reason) = row.last_crash {
        write!(out, ", last crash: {reason}")?;
    }
    if let Some(held) = row.held {
        write!(out, ", held stopped: {held}")?;
    }
    Ok(())
}

/// Writes one vCPU's `list` line.
pub fn write_vcpu(out: &mut impl Write, index: usize, vcpu: &VcpuRow) -> fmt::Result {
    write!(out, "bulkhead:     vcpu {index}: {}", vcpu.state)?;
    if let Some(cpu) = vcpu.cpu {
        write!(out, " on cpu {cpu}")?;
    }
    write!(out, ", cpu time ")?;
    write_duration(out, vcpu.cpu_ms)
}

/// Milliseconds as `1h02m03s`, `2m03s`, `3.456s` or `12ms`.
pub fn write_duration(out: &mut impl Write, ms: u64) -> fmt::Result {
    let seconds = ms / 1000;
    match seconds {
        0 => write!(out, "{ms}ms"),
        1..=59 => write!(out, "{seconds}.{:03}s", ms % 1000),
        60..=3599 => write!(out, "{}m{:02}s", seconds / 60, seconds % 60),
        _ => write!(out, "{}h{:02}m{:02}s", seconds / 3600, seconds / 60 % 60, seconds % 60),
    }
}

/// Finds a partition by name among `names` (exact match); the error names the choices.
pub fn find<'n>(names: impl Iterator<Item = &'n str> + Clone, name: &str) -> Result<usize, NotFound> {
    names.clone().position(|n| n == name).ok_or(NotFound)
}

/// No partition has that name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotFound;

/// The operator's answer when a name matches no partition.
pub fn write_not_found<'n>(out: &mut impl Write, name: &str, names: impl Iterator<Item = &'n str>) -> fmt::Result {
    write!(out, "bulkhead: no partition \"{name}\"; the partitions are")?;
    for (i, n) in names.enumerate() {
        write!(out, "{} {n}", if i == 0 { "" } else { "," })?;
    }
    Ok(())
}

/// The hypervisor's recent messages: a ring of whole lines, the oldest dropped first.
#[derive(Debug)]
pub struct LogRing<const N: usize> {
    bytes: heapless::Deque<u8, N>,
}

impl<const N: usize> Default for LogRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LogRing<N> {
    /// An empty ring.
    pub const fn new() -> Self {
        Self { bytes: heapless::Deque::new() }
    }

    /// Appends bytes of the hypervisor's output (lines end with `\n`); the oldest whole lines
    /// make room. A line longer than the ring keeps only its end.
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\r' {
                continue;
            }
            if self.bytes.is_full() {
                // Drop the oldest whole line; with none complete, the oldest byte of the one
                // being written.
                if self.bytes.iter().any(|&old| old == b'\n') {
                    while let Some(old) = self.bytes.pop_front() {
                        if old == b'\n' {
                            break;
                        }
                    }
                } else {
                    let _ = self.bytes.pop_front();
                }
            }
            let _ = self.bytes.push_back(b);
        }
    }

    /// Each complete line kept, oldest first (without its line end).
    pub fn lines(&self, mut each: impl FnMut(&[u8])) {
        let mut line: heapless::Vec<u8, 256> = heapless::Vec::new();
        for &b in self.bytes.iter() {
            if b == b'\n' {
                each(&line);
                line.clear();
            } else if line.push(b).is_err() {
                each(&line);
                line.clear();
                let _ = line.push(b);
            }
        }
    }
}
