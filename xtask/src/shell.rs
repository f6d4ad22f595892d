//! Runs external commands: each is echoed before it runs, and a failure names the command.

use std::fmt;
use std::io;
use std::process::{Command, Stdio};

/// Why an external command did not succeed.
#[derive(Debug)]
pub enum ShellError {
    /// The program could not be started at all (usually: it is not installed).
    Spawn { command: String, source: io::Error },
    /// The program ran and exited unsuccessfully.
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    /// The program printed something that is not UTF-8 where text was expected.
    NotText { command: String },
}

impl fmt::Display for ShellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShellError::Spawn { command, source } => {
                write!(f, "could not start `{command}`: {source}")
            }
            ShellError::Failed {
                command,
                status,
                stderr,
            } => {
                write!(f, "`{command}` failed ({status})")?;
                if !stderr.trim().is_empty() {
                    write!(f, ":\n{}", stderr.trim_end())?;
                }
                Ok(())
            }
            ShellError::NotText { command } => {
                write!(f, "`{command}` printed output that is not UTF-8")
            }
        }
    }
}

impl std::error::Error for ShellError {}

/// The command as a person would type it, for messages.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains([' ', '"', '\'']) {
            text.push_str(&format!(" '{arg}'"));
        } else {
            text.push(' ');
            text.push_str(&arg);
        }
    }
    text
}

/// Runs a command with inherited standard streams (its output reaches the console).
pub fn run(command: &mut Command) -> Result<(), ShellError> {
    let text = describe(command);
    println!("$ {text}");
    let status = command.status().map_err(|source| ShellError::Spawn {
        command: text.clone(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(ShellError::Failed {
            command: text,
            status: status.to_string(),
            stderr: String::new(),
        })
    }
}

/// Runs a command quietly and returns its standard output; on failure the error carries its
/// standard error.
pub fn output(command: &mut Command) -> Result<String, ShellError> {
    let text = describe(command);
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ShellError::Spawn {
            command: text.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(ShellError::Failed {
            command: text,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    String::from_utf8(out.stdout).map_err(|_| ShellError::NotText { command: text })
}

/// Whether a program can be started (`program --version` runs and succeeds).
pub fn has_program(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
