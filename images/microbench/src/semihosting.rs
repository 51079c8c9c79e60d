//! Arm semihosting (Arm IHI 0059: "Semihosting for AArch32 and AArch64"): text out and exit,
//! handled by the debugger or emulator (QEMU with `-semihosting-config enable=on`). It reaches
//! QEMU before any hypervisor sees it, so it works the same on bare QEMU and under one.

use core::arch::asm;

const SYS_WRITE0: u64 = 0x04;
const SYS_EXIT: u64 = 0x18;
/// SYS_EXIT reason: the application exited; the subcode is its exit status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// Issues one semihosting call.
///
/// # Safety
///
/// `argument` must be what `operation` expects: for the calls used here, the address of memory
/// the host may read.
unsafe fn call(operation: u64, argument: u64) -> u64 {
    let result;
    // SAFETY: HLT #0xF000 is the AArch64 semihosting trap; the caller vouches for the argument.
    unsafe {
        asm!("hlt #0xf000", inout("x0") operation => result, in("x1") argument, options(nostack));
    }
    result
}

/// A line of text being put together, written with SYS_WRITE0 (which takes a NUL-terminated
/// string). `core::fmt` is not used: its vtables would put absolute addresses in data.
pub struct Line {
    bytes: [u8; 160],
    length: usize,
}

impl Line {
    pub fn new() -> Line {
        Line {
            bytes: [0; 160],
            length: 0,
        }
    }

    /// Appends `text`, cutting it short if the line is full.
    pub fn text(&mut self, text: &str) -> &mut Line {
        for &byte in text.as_bytes() {
            self.byte(byte);
        }
        self
    }

    /// Appends one byte unless the line is full (one byte always stays free for the NUL).
    fn byte(&mut self, byte: u8) {
        if self.length + 1 < self.bytes.len() {
            self.bytes[self.length] = byte;
            self.length += 1;
        }
    }

    pub fn number(&mut self, value: u64) -> &mut Line {
        let mut digits = [0u8; 20];
        let mut count = 0;
        let mut rest = value;
        loop {
            digits[count] = b'0' + (rest % 10) as u8;
            count += 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for &digit in digits[..count].iter().rev() {
            self.byte(digit);
        }
        self
    }

    pub fn hex(&mut self, value: u64) -> &mut Line {
        self.text("0x");
        for shift in (0..16).rev() {
            let nibble = ((value >> (shift * 4)) & 0xf) as u8;
            self.byte(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            });
        }
        self
    }

    /// Appends `hundredths / 100` with two decimals.
    pub fn hundredths(&mut self, hundredths: u64) -> &mut Line {
        self.number(hundredths / 100).text(".");
        if hundredths % 100 < 10 {
            self.text("0");
        }
        self.number(hundredths % 100)
    }

    /// Writes the line and a newline to the host's console.
    pub fn print(&mut self) {
        self.text("\n");
        self.bytes[self.length] = 0;
        // SAFETY: SYS_WRITE0 reads the NUL-terminated string at the address, which is this
        // buffer, terminated just above.
        unsafe {
            call(SYS_WRITE0, self.bytes.as_ptr() as u64);
        }
    }
}

/// Ends the program: QEMU exits with `status`.
pub fn exit(status: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: on AArch64, SYS_EXIT takes the address of a two-word block (reason, subcode),
    // which `block` is.
    unsafe {
        call(SYS_EXIT, block.as_ptr() as u64);
    }
    // Without a host that honours semihosting, stop here.
    loop {
        aarch64_cpu::asm::wfi();
    }
}
