//! What of a parsed machine hyp-arm cannot run on yet, each as a typed [`Unsupported`] naming the
//! node and property, so that a board bring-up gets a sentence instead of a wrong plan.
//!
//! `Platform::parse` describes the machine as its tree says (spin-table CPUs, any console UART):
//! that description is right whatever hyp-arm can do with it. This module compares it with what
//! this hyp-arm build can drive ([`Capabilities`]), on the host (tests, board config) or at boot.
#![forbid(unsafe_code)]

use core::fmt;

use super::cpu::{self, EnableMethod};
use super::error::{quote, PlatformError, QuotedValue};
use super::gic::GicRegions;
use super::gicv2_frame::Gicv2FramePages;
use super::psci::{self, PsciMethod, PsciVersion};
use super::secondary::{self, StartError};
use super::tree::{self, NodePath};
use super::Platform;

/// Most limitations reported for one machine (one per kind at most, so this is never reached).
pub const MAX_LIMITATIONS: usize = 8;

/// What this hyp-arm build can drive beyond the architecture itself.
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    /// `compatible` strings of the UARTs the board has a console driver for.
    pub console_drivers: &'static [&'static str],
}

/// One thing in the machine's tree that hyp-arm cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// /chosen has no `stdout-path`: hyp-arm would have no console.
    NoConsole,
    /// The console UART is of a kind the board has no driver for.
    ConsoleWithoutDriver {
        uart: NodePath,
        compatible: QuotedValue,
        drivers: &'static [&'static str],
    },
    /// A secondary CPU whose spin-table release word hyp-arm must not write
    /// ([`secondary::StartError`]: unaligned, not RAM, or RAM that a guest could be given).
    SpinTableRelease { cpu: NodePath, problem: StartError },
    /// A CPU's `enable-method` is "psci" but the tree has no PSCI node.
    CpuWithoutPsci { cpu: NodePath },
    /// The PSCI conduit is HVC, which from EL2 traps to hyp-arm itself.
    PsciThroughHvc { psci: NodePath },
    /// PSCI 0.1: function IDs come from the node; hyp-arm calls the standard IDs of 0.2 and later.
    PsciVersionTooOld { psci: NodePath },
    /// A GICv2 CPU interface or virtual CPU interface frame smaller than 8 KiB.
    GicFrameTooSmall {
        gic: NodePath,
        entry: usize,
        frame: &'static str,
        size: u64,
    },
    /// GICv3 redistributors at a stride other than the one each frame's GICR_TYPER implies.
    RedistributorStride { gic: NodePath, stride: u64 },
}

impl fmt::Display for Unsupported {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoConsole => formatter
                .write_str("/chosen: no `stdout-path`: hyp-arm needs a console UART to report on"),
            Self::ConsoleWithoutDriver {
                uart,
                compatible,
                drivers,
            } => {
                write!(
                    formatter,
                    "{uart}: the console UART (/chosen `stdout-path`) has `compatible` \
                     \"{compatible}\", which this board has no driver for (it drives:"
                )?;
                for driver in *drivers {
                    write!(formatter, " {driver}")?;
                }
                formatter.write_str(")")
            }
            Self::SpinTableRelease { cpu, problem } => {
                write!(formatter, "{cpu}: {problem}: that CPU stays off")
            }
            Self::CpuWithoutPsci { cpu } => write!(
                formatter,
                "{cpu}: `enable-method` is \"psci\", but no enabled node is compatible with \
                 arm,psci-1.0, arm,psci-0.2 or arm,psci"
            ),
            Self::PsciThroughHvc { psci } => write!(
                formatter,
                "{psci}: `method` is \"hvc\": from EL2 an HVC traps to hyp-arm itself and never \
                 reaches the firmware; hyp-arm needs \"smc\""
            ),
            Self::PsciVersionTooOld { psci } => write!(
                formatter,
                "{psci}: `compatible` is only \"arm,psci\" (PSCI 0.1, function IDs from the \
                 node): hyp-arm calls the standard function IDs of PSCI 0.2 and later"
            ),
            Self::GicFrameTooSmall {
                gic,
                entry,
                frame,
                size,
            } => write!(
                formatter,
                "{gic}: `reg` entry {entry} ({frame}) is {size:#x} bytes: hyp-arm needs 8 KiB \
                 (GICC_DIR is at +0x1000)"
            ),
            Self::RedistributorStride { gic, stride } => write!(
                formatter,
                "{gic}: `redistributor-stride` is {stride:#x}: hyp-arm finds redistributors at \
                 the stride their GICR_TYPER implies (128 KiB, or 256 KiB with VLPIs)"
            ),
        }
    }
}

impl<'dtb> Platform<'dtb> {
    /// Everything in this machine that hyp-arm, with `capabilities`, cannot use; empty when it
    /// can run here as the tree describes. An `Err` only if the tree changed under us (it was
    /// validated by `parse`).
    pub fn limitations(
        &self,
        capabilities: &Capabilities,
    ) -> Result<heapless::Vec<Unsupported, MAX_LIMITATIONS>, PlatformError> {
        let mut found = heapless::Vec::new();
        let mut note = |limitation| {
            // One entry per kind, fewer kinds than MAX_LIMITATIONS: this always fits.
            let _ = found.push(limitation);
        };
        match &self.console {
            None => note(Unsupported::NoConsole),
            Some(uart) => {
                let driven = self
                    .device(&uart.path)
                    .and_then(Result::ok)
                    .is_some_and(|device| {
                        capabilities
                            .console_drivers
                            .iter()
                            .any(|driver| device.is_compatible(driver))
                    });
                if !driven {
                    note(Unsupported::ConsoleWithoutDriver {
                        uart: uart.path.clone(),
                        compatible: quote(uart.compatible),
                        drivers: capabilities.console_drivers,
                    });
                }
            }
        }
        self.cpu_limitations(&mut note)?;
        self.gic_limitations(&mut note)?;
        Ok(found)
    }

    /// Whether hyp-arm can start every CPU, and reach PSCI for it.
    fn cpu_limitations(&self, note: &mut impl FnMut(Unsupported)) -> Result<(), PlatformError> {
        let psci = psci::find(&self.fdt)?;
        if self.cpus.len() > 1 {
            // Spin-table CPUs are released by hyp-arm (platform::secondary), provided their
            // release word is one it may write: the first that is not is reported. Every CPU is
            // checked as a secondary, since any of them may be the boot CPU.
            let unusable = self.cpus.iter().enumerate().find_map(|(index, cpu)| {
                if !matches!(cpu.enable_method, EnableMethod::SpinTable { .. }) {
                    return None;
                }
                // Logical CPU 0 (the boot CPU) is skipped by the planner: a placeholder.
                let logical = [u64::MAX, cpu.mpidr];
                let problem = secondary::plan_secondaries(
                    &self.cpus,
                    &logical,
                    &self.memory,
                    &self.reserved,
                    None,
                )
                .find_map(Result::err);
                problem.map(|problem| (index, problem))
            });
            if let Some((index, problem)) = unusable {
                note(Unsupported::SpinTableRelease {
                    cpu: self.cpu_path(index)?,
                    problem,
                });
            }
            let wants_psci = self
                .cpus
                .iter()
                .position(|cpu| cpu.enable_method == EnableMethod::Psci);
            if let (Some(index), None) = (wants_psci, &psci) {
                note(Unsupported::CpuWithoutPsci {
                    cpu: self.cpu_path(index)?,
                });
            }
        }
        if let Some((psci, path)) = psci {
            if psci.method == PsciMethod::Hvc {
                note(Unsupported::PsciThroughHvc { psci: path.clone() });
            }
            if psci.version == PsciVersion::V0_1 {
                note(Unsupported::PsciVersionTooOld { psci: path });
            }
        }
        Ok(())
    }

    fn cpu_path(&self, index: usize) -> Result<NodePath, PlatformError> {
        Ok(cpu::path_of(&self.fdt, index)?.unwrap_or_default())
    }

    /// Whether the GIC's frames have the layout hyp-arm's drivers and guests assume.
    fn gic_limitations(&self, note: &mut impl FnMut(Unsupported)) -> Result<(), PlatformError> {
        let gic = &self.gic.path;
        match &self.gic.regions {
            GicRegions::V2 {
                cpu_interface,
                virtual_cpu_interface,
                ..
            } => {
                for (entry, frame, range) in [
                    (1, "GICC", cpu_interface),
                    (3, "GICV", virtual_cpu_interface),
                ] {
                    // Both layouts of the two pages work (`gicv2_frame`); one page does not.
                    if Gicv2FramePages::of(*range).is_none() {
                        note(Unsupported::GicFrameTooSmall {
                            gic: gic.clone(),
                            entry,
                            frame,
                            size: range.size,
                        });
                    }
                }
            }
            GicRegions::V3 { .. } => {
                let stride = tree::find_by_path(&self.fdt, gic)?
                    .and_then(|(node, _)| tree::property(node, "redistributor-stride"));
                if let Some(stride) = stride {
                    note(Unsupported::RedistributorStride {
                        gic: gic.clone(),
                        stride: tree::cells_value(stride.get(..8).unwrap_or(stride)),
                    });
                }
            }
        }
        Ok(())
    }
}
