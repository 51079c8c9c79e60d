//! Decoding ESR_EL2 (with FAR_EL2 and HPFAR_EL2) into an `Exit`.
#![forbid(unsafe_code)]

/// Exception classes of ESR_EL2.EC that the hypervisor handles (Arm ARM D17.2.37).
mod class {
    pub const WFX: u64 = 0x01;
    pub const HVC64: u64 = 0x16;
    pub const SMC64: u64 = 0x17;
    pub const SYSTEM_REGISTER: u64 = 0x18;
    pub const INSTRUCTION_ABORT_LOWER: u64 = 0x20;
    pub const DATA_ABORT_LOWER: u64 = 0x24;
}

/// The width and register of a trapped load or store, from a data abort with ISV set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    /// 1, 2, 4 or 8 bytes.
    pub width: u8,
    /// The general-purpose register transferred (31 means XZR/WZR).
    pub register: u8,
    pub is_write: bool,
    /// A load that sign-extends into the register.
    pub sign_extend: bool,
    /// The destination is an X (64-bit) register.
    pub sixty_four_bit_register: bool,
}

/// A stage-2 data abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAbort {
    /// The faulting intermediate physical address.
    pub ipa: u64,
    /// The faulting virtual address as the guest saw it.
    pub virtual_address: u64,
    /// The decoded access; `None` when the hardware gave no syndrome (ISV=0: load/store pair,
    /// writeback, SIMD...), which an emulated device cannot handle.
    pub access: Option<MmioAccess>,
    pub is_write: bool,
    /// The fault happened on a stage-1 page table walk (S1PTW).
    pub on_stage1_walk: bool,
    /// Data fault status code (DFSC).
    pub fault_status: u8,
}

/// A trapped MSR/MRS (EC 0x18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemRegisterAccess {
    pub op0: u8,
    pub op1: u8,
    pub crn: u8,
    pub crm: u8,
    pub op2: u8,
    pub register: u8,
    pub is_read: bool,
}

impl SystemRegisterAccess {
    /// True when this is the system register with the given encoding.
    pub fn is(&self, encoding: (u8, u8, u8, u8, u8)) -> bool {
        (self.op0, self.op1, self.crn, self.crm, self.op2) == encoding
    }
}

/// Encodings (op0, op1, CRn, CRm, op2) of the GICv3 SGI generation registers, which trap to EL2
/// when HCR_EL2.IMO is set (GICv3 spec 12.2.1).
pub const ICC_SGI1R_EL1: (u8, u8, u8, u8, u8) = (3, 0, 12, 11, 5);
pub const ICC_ASGI1R_EL1: (u8, u8, u8, u8, u8) = (3, 0, 12, 11, 6);
pub const ICC_SGI0R_EL1: (u8, u8, u8, u8, u8) = (3, 0, 12, 11, 7);

/// Why a guest left EL1/EL0 synchronously.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// HVC from EL1: an SMCCC call. ELR already points past the instruction.
    Hypercall {
        immediate: u16,
    },
    /// SMC from EL1, trapped by HCR_EL2.TSC: also an SMCCC call. ELR points at the instruction.
    SecureMonitorCall {
        immediate: u16,
    },
    DataAbort(DataAbort),
    InstructionAbort {
        ipa: u64,
        virtual_address: u64,
    },
    SystemRegister(SystemRegisterAccess),
    /// WFI or WFE (only seen when they are trapped).
    WaitForInterrupt,
    /// Anything the hypervisor does not handle; the guest gets an undefined-instruction exception.
    Unhandled {
        class: u8,
        syndrome: u32,
    },
}

/// The faulting IPA from HPFAR_EL2 (bits [43:4] hold IPA[51:12]) and the page offset from FAR.
fn fault_ipa(hpfar: u64, far: u64) -> u64 {
    ((hpfar & 0x0000_0fff_ffff_fff0) << 8) | (far & 0xfff)
}

impl Exit {
    /// Decodes a synchronous exception taken to EL2 from a lower EL.
    pub fn decode(esr: u64, far: u64, hpfar: u64) -> Exit {
        let class = (esr >> 26) & 0x3f;
        let iss = esr & 0x01ff_ffff;
        match class {
            class::HVC64 => Exit::Hypercall {
                immediate: iss as u16,
            },
            class::SMC64 => Exit::SecureMonitorCall {
                immediate: iss as u16,
            },
            class::WFX => Exit::WaitForInterrupt,
            class::SYSTEM_REGISTER => Exit::SystemRegister(SystemRegisterAccess {
                op0: ((iss >> 20) & 0b11) as u8,
                op2: ((iss >> 17) & 0b111) as u8,
                op1: ((iss >> 14) & 0b111) as u8,
                crn: ((iss >> 10) & 0xf) as u8,
                register: ((iss >> 5) & 0x1f) as u8,
                crm: ((iss >> 1) & 0xf) as u8,
                is_read: iss & 1 == 1,
            }),
            class::DATA_ABORT_LOWER => {
                let is_write = iss & (1 << 6) != 0;
                let syndrome_valid = iss & (1 << 24) != 0;
                let access = syndrome_valid.then(|| MmioAccess {
                    width: 1 << ((iss >> 22) & 0b11),
                    sign_extend: iss & (1 << 21) != 0,
                    register: ((iss >> 16) & 0x1f) as u8,
                    sixty_four_bit_register: iss & (1 << 15) != 0,
                    is_write,
                });
                Exit::DataAbort(DataAbort {
                    ipa: fault_ipa(hpfar, far),
                    virtual_address: far,
                    access,
                    is_write,
                    on_stage1_walk: iss & (1 << 7) != 0,
                    fault_status: (iss & 0x3f) as u8,
                })
            }
            class::INSTRUCTION_ABORT_LOWER => Exit::InstructionAbort {
                ipa: fault_ipa(hpfar, far),
                virtual_address: far,
            },
            _ => Exit::Unhandled {
                class: class as u8,
                syndrome: iss as u32,
            },
        }
    }
}

/// The value a trapped load puts in its register: sign- or zero-extended from the access width,
/// truncated to 32 bits for a W register.
pub fn load_value(access: &MmioAccess, raw: u64) -> u64 {
    let bits = u32::from(access.width) * 8;
    let value = if bits >= 64 {
        raw
    } else if access.sign_extend {
        let shift = 64 - bits;
        (((raw << shift) as i64) >> shift) as u64
    } else {
        raw & ((1u64 << bits) - 1)
    };
    if access.sixty_four_bit_register {
        value
    } else {
        value & 0xffff_ffff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_32_bit_store_to_the_distributor() {
        // EC=0x24, IL, ISV, SAS=2 (word), SRT=3, WnR, DFSC=translation fault level 3 (0x07).
        let esr = (0x24 << 26) | (1 << 25) | (1 << 24) | (2 << 22) | (3 << 16) | (1 << 6) | 0x07;
        let exit = Exit::decode(esr, 0xffff_0000_0800_0104, 0x0800_0000 >> 8);
        let Exit::DataAbort(abort) = exit else {
            panic!("{exit:?}")
        };
        assert_eq!(abort.ipa, 0x0800_0104);
        assert_eq!(abort.virtual_address, 0xffff_0000_0800_0104);
        assert_eq!(
            abort.access,
            Some(MmioAccess {
                width: 4,
                register: 3,
                is_write: true,
                sign_extend: false,
                sixty_four_bit_register: false
            })
        );
        assert_eq!(abort.fault_status, 0x07);
    }

    #[test]
    fn data_abort_without_syndrome_has_no_access() {
        let esr = (0x24 << 26) | (1 << 25) | 0x07;
        let Exit::DataAbort(abort) = Exit::decode(esr, 0x1008, 0x0b00_0000 >> 8) else {
            panic!()
        };
        assert_eq!(abort.access, None);
        assert!(!abort.is_write);
        assert_eq!(abort.ipa, 0x0b00_0008);
    }

    #[test]
    fn decodes_hypercalls_and_sgi_register_writes() {
        assert_eq!(
            Exit::decode((0x16 << 26) | (1 << 25), 0, 0),
            Exit::Hypercall { immediate: 0 }
        );
        assert_eq!(
            Exit::decode((0x17 << 26) | (1 << 25) | 7, 0, 0),
            Exit::SecureMonitorCall { immediate: 7 }
        );
        // MSR ICC_SGI1R_EL1, x2: Op0=3 Op2=5 Op1=0 CRn=12 Rt=2 CRm=11, direction write.
        let iss = (3 << 20) | (5 << 17) | (12 << 10) | (2 << 5) | (11 << 1);
        let Exit::SystemRegister(access) = Exit::decode((0x18 << 26) | iss, 0, 0) else {
            panic!()
        };
        assert!(access.is(ICC_SGI1R_EL1));
        assert_eq!(access.register, 2);
        assert!(!access.is_read);
        assert!(matches!(
            Exit::decode(0x3f << 26, 0, 0),
            Exit::Unhandled { class: 0x3f, .. }
        ));
    }

    #[test]
    fn loads_extend_as_the_instruction_asks() {
        let byte = MmioAccess {
            width: 1,
            register: 0,
            is_write: false,
            sign_extend: true,
            sixty_four_bit_register: true,
        };
        assert_eq!(load_value(&byte, 0x80), 0xffff_ffff_ffff_ff80);
        let word = MmioAccess {
            width: 4,
            register: 0,
            is_write: false,
            sign_extend: false,
            sixty_four_bit_register: false,
        };
        assert_eq!(load_value(&word, 0x1_2345_6789), 0x2345_6789);
        let signed_word_in_w = MmioAccess {
            width: 2,
            sign_extend: true,
            ..word
        };
        assert_eq!(load_value(&signed_word_in_w, 0x8000), 0xffff_8000);
    }
}
