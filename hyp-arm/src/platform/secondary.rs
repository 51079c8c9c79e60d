//! How each secondary CPU is started, decided and checked before anything is written: PSCI
//! CPU_ON through the firmware, or a spin-table release (Documentation/arch/arm64/booting.rst,
//! section 5: the CPU spins at its `cpu-release-addr` until a non-zero entry address appears).
//!
//! The decision is pure so that the checks (alignment, the release word in RAM that no guest is
//! given, a conduit hyp-arm can call) are host-tested; `hypervisor/boot.rs` only carries it out.
#![forbid(unsafe_code)]

use core::fmt;

use super::cpu::{Cpu, EnableMethod};
use super::memory::MemoryRange;
use super::psci::{self, Psci};

/// Bytes of a spin-table release word: a 64-bit little-endian entry address.
pub const RELEASE_WORD_SIZE: u64 = 8;

/// How one secondary CPU is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMethod {
    /// PSCI CPU_ON over SMC, the logical index as the context ID.
    Psci,
    /// Write the entry point to this physical address, clean it to the point of coherency, SEV.
    SpinTable { release_address: u64 },
}

/// One secondary CPU and how to start it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecondaryStart {
    /// hyp-arm's logical CPU number (the boot CPU is 0).
    pub index: usize,
    /// MPIDR affinity (Aff3..Aff0) as the device tree's `reg` gives it.
    pub mpidr: u64,
    pub method: StartMethod,
}

/// Why a secondary CPU cannot be started; it stays off and the others start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// The CPU is not in /cpus (hyp-arm's logical list came from elsewhere).
    NotInTree { mpidr: u64 },
    /// The CPU node has no `enable-method`.
    NoEnableMethod { mpidr: u64 },
    /// `enable-method = "psci"`, but no usable PSCI: none, through HVC, or version 0.1.
    NoUsablePsci { mpidr: u64, why: &'static str },
    /// The release address is not 8-byte aligned.
    ReleaseUnaligned { mpidr: u64, release_address: u64 },
    /// The release word is not (wholly) in the tree's RAM.
    ReleaseNotInRam { mpidr: u64, release_address: u64 },
    /// The release word is RAM but not reserved: hyp-arm could carve it into a guest's memory,
    /// and the CPU would jump to whatever the guest writes there.
    ReleaseNotReserved { mpidr: u64, release_address: u64 },
}

impl fmt::Display for StartError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotInTree { mpidr } => {
                write!(formatter, "CPU {mpidr:#x}: not in the device tree's /cpus")
            }
            Self::NoEnableMethod { mpidr } => write!(
                formatter,
                "CPU {mpidr:#x}: its node has no `enable-method`, so hyp-arm cannot start it"
            ),
            Self::NoUsablePsci { mpidr, why } => write!(
                formatter,
                "CPU {mpidr:#x}: `enable-method` is \"psci\", but {why}"
            ),
            Self::ReleaseUnaligned {
                mpidr,
                release_address,
            } => write!(
                formatter,
                "CPU {mpidr:#x}: `cpu-release-addr` {release_address:#x} is not 8-byte aligned"
            ),
            Self::ReleaseNotInRam {
                mpidr,
                release_address,
            } => write!(
                formatter,
                "CPU {mpidr:#x}: `cpu-release-addr` {release_address:#x} is not in the RAM the \
                 memory nodes describe"
            ),
            Self::ReleaseNotReserved {
                mpidr,
                release_address,
            } => write!(
                formatter,
                "CPU {mpidr:#x}: `cpu-release-addr` {release_address:#x} is RAM that no \
                 /memreserve/ or /reserved-memory entry covers, so hyp-arm could hand it to a \
                 guest; the firmware must reserve its spin table"
            ),
        }
    }
}

/// How each of `logical_affinities[1..]` (logical CPU 0 is the boot CPU, already running) is
/// started, in logical order: a CPU that cannot be started gets its error, the others are
/// unaffected. `memory` and `reserved` are the tree's, `psci` its PSCI node.
pub fn plan_secondaries<'a>(
    cpus: &'a [Cpu],
    logical_affinities: &'a [u64],
    memory: &'a [MemoryRange],
    reserved: &'a [MemoryRange],
    psci: Option<Psci>,
) -> impl Iterator<Item = Result<SecondaryStart, StartError>> + 'a {
    logical_affinities
        .iter()
        .enumerate()
        .skip(1)
        .map(move |(index, &mpidr)| {
            let cpu = cpus
                .iter()
                .find(|cpu| cpu.mpidr == mpidr)
                .ok_or(StartError::NotInTree { mpidr })?;
            let method = match cpu.enable_method {
                EnableMethod::None => return Err(StartError::NoEnableMethod { mpidr }),
                EnableMethod::Psci => {
                    check_psci(psci, mpidr)?;
                    StartMethod::Psci
                }
                EnableMethod::SpinTable { release_addr } => {
                    check_release_address(release_addr, mpidr, memory, reserved)?;
                    StartMethod::SpinTable {
                        release_address: release_addr,
                    }
                }
            };
            Ok(SecondaryStart {
                index,
                mpidr,
                method,
            })
        })
}

fn check_psci(psci: Option<Psci>, mpidr: u64) -> Result<(), StartError> {
    match psci::why_not_callable(psci) {
        None => Ok(()),
        Some(why) => Err(StartError::NoUsablePsci { mpidr, why }),
    }
}

/// The release word must be aligned, in RAM (the CPU reads it with its MMU off, so it must be
/// normal memory hyp-arm maps and cleans), and reserved (never carved into a guest).
fn check_release_address(
    release_address: u64,
    mpidr: u64,
    memory: &[MemoryRange],
    reserved: &[MemoryRange],
) -> Result<(), StartError> {
    if !release_address.is_multiple_of(RELEASE_WORD_SIZE) {
        return Err(StartError::ReleaseUnaligned {
            mpidr,
            release_address,
        });
    }
    let within = |range: &MemoryRange| {
        release_address >= range.base
            && release_address
                .checked_add(RELEASE_WORD_SIZE)
                .is_some_and(|end| end <= range.end())
    };
    if !memory.iter().any(within) {
        return Err(StartError::ReleaseNotInRam {
            mpidr,
            release_address,
        });
    }
    if !reserved.iter().any(within) {
        return Err(StartError::ReleaseNotReserved {
            mpidr,
            release_address,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
