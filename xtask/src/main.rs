//! Project tasks: build, run, test, stress, bench, image, guests, setup. This file only dispatches.
#![forbid(unsafe_code)]

mod apt_sources;
mod bench;
mod board_trees;
mod build;
mod cli;
mod cpio;
mod debian;
mod elf_image;
mod guests;
mod image;
mod initramfs;
mod linux;
mod partitions;
mod prereq;
mod qemu;
mod run;
mod shell;
mod stress;
mod test;
mod uboot;
mod workspace;

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use cli::Task;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = match cli::parse(&args) {
        Ok(task) => task,
        // Help and version go to standard output with status 0; usage errors to standard
        // error with status 2.
        Err(e) => e.exit(),
    };
    match dispatch(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(task: Task) -> Result<(), Box<dyn Error>> {
    match task {
        Task::Build { board: _, profile } => {
            build::build(profile)?;
            build::guests(profile)?;
        }
        Task::Run {
            board,
            gic,
            profile,
            append,
            timeout,
            partitions,
            gdb,
            defmt,
        } => run::run(&run::RunOptions {
            board: &board,
            gic,
            profile,
            bootargs: append.as_deref(),
            timeout: timeout.map(Duration::from_secs),
            partitions,
            gdb,
            defmt,
        })?,
        Task::Stress {
            runs,
            jobs,
            filter,
            profile,
        } => stress::stress(&filter, runs, jobs, profile)?,
        Task::Test {
            jobs,
            filter,
            profile,
            host_tests,
            pending,
        } => test::test(
            &test::Selection {
                filter: filter.as_deref(),
                pending,
            },
            jobs,
            profile,
            host_tests,
        )?,
        Task::Image {
            board,
            out,
            config,
            profile,
            u_boot,
        } => {
            let loader = if u_boot { image::Loader::UBoot } else { image::Loader::Firmware };
            image::image(&board, &out, config.as_deref(), profile, loader).map(drop)?
        }
        Task::Bench => bench::bench()?,
        Task::Guests => guests::guests()?,
        Task::Setup => {
            prereq::ensure_target()?;
            prereq::ensure_qemu()?;
            prereq::ensure_dtc()?;
            prereq::ensure_mkimage()?;
        }
    }
    Ok(())
}
