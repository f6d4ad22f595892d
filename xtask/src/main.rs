//! Project tasks: build, run, test, image, guests. This file only dispatches.
#![forbid(unsafe_code)]

mod apt_sources;
mod cli;
mod prereq;
mod qemu;
mod shell;
mod workspace;

use std::process::ExitCode;

use cli::Task;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = match cli::parse(&args) {
        Ok(task) => task,
        Err(e) => {
            eprintln!("xtask: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = match task {
        Task::Setup => setup(),
        Task::Help => {
            println!("{}", cli::USAGE);
            Ok(())
        }
        _ => Err("not yet".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn setup() -> Result<(), Box<dyn std::error::Error>> {
    prereq::ensure_target()?;
    prereq::ensure_qemu()?;
    prereq::ensure_dtc()?;
    Ok(())
}
