//! `cargo xtask run`: hyp-arm and its guest under QEMU, with the console on this terminal.

use std::io::{self, ErrorKind, Read, Write};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{bail, Context, Result};
use hyp_arm_system_tests::command_line::{self, BootConfig, BootTarget, Console, Images};
use hyp_arm_system_tests::ConsoleDecoder;

use crate::build::LogFormat;
use crate::layout::Layout;
use crate::process::{say, shown};
use crate::{build, deps, initramfs, BuildOptions, RunOptions};

pub fn run(layout: &Layout, options: &RunOptions) -> Result<()> {
    deps::install(layout)?;
    let target = if options.bare {
        BootTarget::BareKernel
    } else {
        BootTarget::HypArm
    };
    // defmt logging unless asked otherwise: this command decodes it.
    let log = options.build.log.unwrap_or(LogFormat::Defmt);
    let hypervisor = match target {
        BootTarget::HypArm | BootTarget::HypArmPinned => build::build(
            layout,
            &BuildOptions {
                board: options.build.board.clone(),
                log: Some(log),
                embed_kernel: options.build.embed_kernel.clone(),
                embed_initrd: options.build.embed_initrd.clone(),
                embed_bootargs: options.build.embed_bootargs.clone(),
                domains: options.build.domains.clone(),
            },
        )?,
        BootTarget::BareKernel => layout.hypervisor_image(&options.build.board),
    };
    let decoder = match (target, log) {
        (BootTarget::HypArm, LogFormat::Defmt) => Some(ConsoleDecoder::for_image(&hypervisor)?),
        _ => None,
    };
    let images = Images {
        hypervisor,
        guest_kernel: layout.guest_kernel(),
        guest_initrd: initramfs::build(layout)?,
    };
    let config = BootConfig {
        gic_version: options.gic,
        cpu: options.cpu.clone(),
        smp: options.smp,
        memory: options.mem.clone(),
        bootargs_extra: options.bootargs.clone(),
        target,
    };
    let mut qemu = command_line::command(&config, &images, Console::Interactive);
    say(format!("starting {}", shown(&qemu)));
    say("the console is this terminal; quit QEMU with Ctrl-A x");
    let status = match decoder {
        Some(decoder) => run_decoding(&mut qemu, decoder)?,
        None => qemu
            .status()
            .with_context(|| format!("cannot start {}", command_line::QEMU))?,
    };
    if !status.success() {
        bail!("QEMU stopped with {status}");
    }
    Ok(())
}

/// Runs QEMU with its output through `decoder` to this terminal. Only stdout goes through a
/// pipe: QEMU keeps this terminal as its stdin (and sets it to raw mode), so the console stays
/// interactive, and its own messages on stderr come straight through.
fn run_decoding(qemu: &mut Command, mut decoder: ConsoleDecoder) -> Result<ExitStatus> {
    let mut child = qemu
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", command_line::QEMU))?;
    let copied = match child.stdout.take() {
        Some(output) => copy_decoded(output, &mut decoder),
        None => Err(anyhow::anyhow!("QEMU's stdout is not a pipe")),
    };
    if let Err(error) = copied {
        // QEMU must not outlive this command; errors mean it is already gone.
        let _ = child.kill();
        let _ = child.wait();
        return Err(error);
    }
    child.wait().context("cannot wait for QEMU")
}

/// Copies `output` through `decoder` to this terminal until `output` closes.
fn copy_decoded(mut output: impl Read, decoder: &mut ConsoleDecoder) -> Result<()> {
    let mut terminal = io::stdout().lock();
    let mut buffer = [0u8; 4096];
    let mut text = Vec::new();
    loop {
        let length = match output.read(&mut buffer) {
            Ok(0) => break,
            Ok(length) => length,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).context("cannot read QEMU's output"),
        };
        text.clear();
        decoder.decode(&buffer[..length], &mut text);
        // Flushed per chunk, not per line: a shell prompt has no newline.
        terminal
            .write_all(&text)
            .and_then(|()| terminal.flush())
            .context("cannot write to the terminal")?;
    }
    text.clear();
    decoder.finish(&mut text);
    terminal
        .write_all(&text)
        .and_then(|()| terminal.flush())
        .context("cannot write to the terminal")
}
