//! vCPU power states (PSCI CPU_ON / CPU_OFF / AFFINITY_INFO) shared between physical CPUs.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::trap::smccc::{affinity_state, status};

const OFF: u8 = 0;
/// CPU_ON won the race for an off vCPU and is writing its entry point.
const CLAIMED: u8 = 1;
/// The entry point is published; the vCPU's physical CPU has not picked it up yet.
const ON_PENDING: u8 = 2;
const ON: u8 = 3;

/// The power state of one vCPU and, while it is being turned on, where it starts.
pub struct VcpuPower {
    state: AtomicU8,
    entry_point: AtomicU64,
    context: AtomicU64,
}

/// Where a vCPU starts when its physical CPU picks it up.
#[derive(Clone, Copy, Debug)]
pub struct StartRequest {
    pub entry_point: u64,
    pub context: u64,
}

impl VcpuPower {
    pub const fn new() -> Self {
        Self {
            state: AtomicU8::new(OFF),
            entry_point: AtomicU64::new(0),
            context: AtomicU64::new(0),
        }
    }

    /// PSCI CPU_ON: asks for the vCPU to start at `entry_point` with x0 = `context`. Returns the
    /// PSCI status for the caller.
    pub fn request_on(&self, entry_point: u64, context: u64) -> u64 {
        match self
            .state
            .compare_exchange(OFF, CLAIMED, Ordering::Acquire, Ordering::Acquire)
        {
            Ok(_) => {
                self.entry_point.store(entry_point, Ordering::Relaxed);
                self.context.store(context, Ordering::Relaxed);
                // Publish the entry point before the physical CPU can see the request.
                self.state.store(ON_PENDING, Ordering::Release);
                status::SUCCESS
            }
            Err(CLAIMED | ON_PENDING) => status::ON_PENDING,
            Err(_) => status::ALREADY_ON,
        }
    }

    /// Takes a published start request, marking the vCPU on.
    pub fn take_start_request(&self) -> Option<StartRequest> {
        self.state
            .compare_exchange(ON_PENDING, ON, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| StartRequest {
                entry_point: self.entry_point.load(Ordering::Relaxed),
                context: self.context.load(Ordering::Relaxed),
            })
    }

    /// Whether a start request waits to be picked up.
    pub fn has_start_request(&self) -> bool {
        self.state.load(Ordering::Acquire) == ON_PENDING
    }

    /// The vCPU stopped (CPU_OFF, or its domain is being reset).
    pub fn set_off(&self) {
        self.state.store(OFF, Ordering::Release);
    }

    /// Withdraws a start request nobody has picked up yet (the domain is being reset).
    pub fn cancel_pending(&self) {
        let _ = self
            .state
            .compare_exchange(ON_PENDING, OFF, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// True when the vCPU is off (and no start is pending).
    pub fn is_off(&self) -> bool {
        self.state.load(Ordering::Acquire) == OFF
    }

    /// The AFFINITY_INFO answer for this vCPU.
    pub fn affinity_info(&self) -> u64 {
        match self.state.load(Ordering::Acquire) {
            OFF => affinity_state::OFF,
            ON => affinity_state::ON,
            _ => affinity_state::ON_PENDING,
        }
    }
}

impl Default for VcpuPower {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_on_cycle_follows_psci() {
        let vcpu = VcpuPower::new();
        assert_eq!(vcpu.affinity_info(), affinity_state::OFF);
        assert!(vcpu.take_start_request().is_none());
        assert_eq!(vcpu.request_on(0x4008_0000, 7), status::SUCCESS);
        assert_eq!(vcpu.affinity_info(), affinity_state::ON_PENDING);
        assert_eq!(vcpu.request_on(0x4008_0000, 7), status::ON_PENDING);
        let request = vcpu.take_start_request().unwrap();
        assert_eq!((request.entry_point, request.context), (0x4008_0000, 7));
        assert_eq!(vcpu.affinity_info(), affinity_state::ON);
        assert_eq!(vcpu.request_on(0, 0), status::ALREADY_ON);
        vcpu.set_off();
        assert_eq!(vcpu.affinity_info(), affinity_state::OFF);
        assert_eq!(vcpu.request_on(0x1000, 0), status::SUCCESS);
    }
}
