//! `cargo xtask run`: hyp-arm and its guest under QEMU, with the console on this terminal.

use anyhow::{bail, Context, Result};
use hyp_arm_system_tests::command_line::{self, BootConfig, BootTarget, Console, Images};

use crate::layout::Layout;
use crate::process::{say, shown};
use crate::{build, deps, initramfs, RunOptions};

pub fn run(layout: &Layout, options: &RunOptions) -> Result<()> {
    deps::install(layout)?;
    let target = if options.bare {
        BootTarget::BareKernel
    } else {
        BootTarget::HypArm
    };
    let hypervisor = match target {
        BootTarget::HypArm => build::build(layout, &options.build)?,
        BootTarget::BareKernel => layout.hypervisor_image(&options.build.board),
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
    let status = qemu
        .status()
        .with_context(|| format!("cannot start {}", command_line::QEMU))?;
    if !status.success() {
        bail!("QEMU stopped with {status}");
    }
    Ok(())
}
