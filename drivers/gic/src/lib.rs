//! Arm GICv2 and GICv3: the physical distributor, redistributors, CPU interface and hypervisor interface.
#![no_std]
