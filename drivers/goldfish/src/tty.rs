//! `google,goldfish-tty`: the emulator's console, registers as Linux's drivers/tty/goldfish.c
//! uses them. VERSION reads 1, so the driver passes DMA (guest-physical) addresses: it writes
//! DATA_PTR, DATA_PTR_HIGH and DATA_LEN, then WRITE_BUFFER to CMD; the device reads that buffer
//! from the domain's RAM (bounds-checked by the context) and sends it to the hypervisor console
//! as the domain's output. PUT_CHAR sends one byte. There is no input: BYTES_READY reads 0.
#![forbid(unsafe_code)]

use hyp_arm::sync::Mutex;
use hyp_arm::vdev::emulated::{read_guest, AccessError, DeviceContext, EmulatedDevice};

use crate::require_word;

/// Register offsets (goldfish.c).
mod register {
    pub const PUT_CHAR: u64 = 0x00;
    pub const BYTES_READY: u64 = 0x04;
    pub const CMD: u64 = 0x08;
    pub const DATA_PTR: u64 = 0x10;
    pub const DATA_LEN: u64 = 0x14;
    pub const DATA_PTR_HIGH: u64 = 0x18;
    pub const VERSION: u64 = 0x20;
}

/// CMD values (goldfish.c).
mod command {
    pub const INT_DISABLE: u64 = 0;
    pub const INT_ENABLE: u64 = 1;
    pub const WRITE_BUFFER: u64 = 2;
    pub const READ_BUFFER: u64 = 3;
}

/// Version 1: buffers are given by physical (DMA) address (version 0 meant virtual addresses).
const VERSION: u32 = 1;
/// The most one WRITE_BUFFER moves: the driver sends at most a page per command; more is
/// refused so that a guest cannot keep the hypervisor copying.
pub const MAX_WRITE: u32 = 4096;

#[derive(Clone, Copy)]
struct State {
    data_pointer: u64,
    data_length: u32,
}

/// The TTY model.
pub struct Tty {
    state: Mutex<State>,
}

impl Default for Tty {
    fn default() -> Self {
        Self::new()
    }
}

impl Tty {
    pub const fn new() -> Tty {
        Tty {
            state: Mutex::new(State {
                data_pointer: 0,
                data_length: 0,
            }),
        }
    }
}

/// Copies the guest's buffer to the console in chunks.
fn write_buffer(context: &dyn DeviceContext, address: u64, length: u32) -> Result<(), AccessError> {
    let refused = AccessError::BadGuestBuffer {
        address,
        length: u64::from(length),
    };
    if length > MAX_WRITE
        || !context.memory().contains(
            hyp_arm::channel::guest_memory::GuestAddress(address),
            u64::from(length),
        )
    {
        return Err(refused);
    }
    let mut chunk = [0u8; 64];
    let mut done = 0u64;
    while done < u64::from(length) {
        let size = (u64::from(length) - done).min(chunk.len() as u64) as usize;
        read_guest(context, address + done, &mut chunk[..size]).map_err(|_| refused)?;
        context.console_write(&chunk[..size]);
        done += size as u64;
    }
    Ok(())
}

impl EmulatedDevice for Tty {
    fn read(&self, _: &dyn DeviceContext, offset: u64, width: u8) -> Result<u64, AccessError> {
        require_word(offset, width)?;
        let state = self.state.lock();
        let value = match offset {
            register::BYTES_READY => 0,
            register::VERSION => VERSION,
            register::DATA_PTR => state.data_pointer as u32,
            register::DATA_PTR_HIGH => (state.data_pointer >> 32) as u32,
            register::DATA_LEN => state.data_length,
            register::PUT_CHAR | register::CMD => return Err(AccessError::WriteOnly { offset }),
            _ => return Err(AccessError::NoRegister { offset }),
        };
        Ok(u64::from(value))
    }

    fn write(
        &self,
        context: &dyn DeviceContext,
        offset: u64,
        width: u8,
        value: u64,
    ) -> Result<(), AccessError> {
        require_word(offset, width)?;
        let mut state = self.state.lock();
        match offset {
            register::PUT_CHAR => context.console_write(&[value as u8]),
            register::DATA_PTR => {
                state.data_pointer = state.data_pointer & !0xffff_ffff | (value & 0xffff_ffff)
            }
            register::DATA_PTR_HIGH => {
                state.data_pointer = state.data_pointer & 0xffff_ffff | (value & 0xffff_ffff) << 32
            }
            register::DATA_LEN => state.data_length = value as u32,
            register::CMD => match value & 0xffff_ffff {
                command::WRITE_BUFFER => {
                    let State {
                        data_pointer,
                        data_length,
                    } = *state;
                    drop(state);
                    return write_buffer(context, data_pointer, data_length);
                }
                // No input: there is never anything to read or to interrupt for.
                command::INT_DISABLE | command::INT_ENABLE | command::READ_BUFFER => {}
                _ => return Err(AccessError::NoRegister { offset }),
            },
            register::BYTES_READY | register::VERSION => {
                return Err(AccessError::ReadOnly { offset })
            }
            _ => return Err(AccessError::NoRegister { offset }),
        }
        Ok(())
    }

    fn take_interrupt(&self) -> bool {
        false
    }

    fn reset(&self) {
        *self.state.lock() = State {
            data_pointer: 0,
            data_length: 0,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeContext, RAM_BASE};

    #[test]
    fn write_buffer_sends_the_guests_bytes_to_the_console() {
        let tty = Tty::new();
        let context = FakeContext::new();
        context.ram.borrow_mut()[0x100..0x106].copy_from_slice(b"hello\n");
        assert_eq!(tty.read(&context, register::VERSION, 4), Ok(1));
        let address = RAM_BASE + 0x100;
        tty.write(&context, register::DATA_PTR, 4, address & 0xffff_ffff)
            .unwrap();
        tty.write(&context, register::DATA_PTR_HIGH, 4, address >> 32)
            .unwrap();
        tty.write(&context, register::DATA_LEN, 4, 6).unwrap();
        tty.write(&context, register::CMD, 4, command::WRITE_BUFFER)
            .unwrap();
        tty.write(&context, register::PUT_CHAR, 4, u64::from(b'!'))
            .unwrap();
        assert_eq!(context.console.borrow().as_slice(), b"hello\n!");
    }

    #[test]
    fn a_buffer_outside_ram_is_refused_and_nothing_is_sent() {
        let tty = Tty::new();
        let context = FakeContext::new();
        let address = RAM_BASE + 0xff0;
        tty.write(&context, register::DATA_PTR, 4, address).unwrap();
        tty.write(&context, register::DATA_LEN, 4, 0x20).unwrap();
        assert_eq!(
            tty.write(&context, register::CMD, 4, command::WRITE_BUFFER),
            Err(AccessError::BadGuestBuffer {
                address,
                length: 0x20
            })
        );
        tty.write(&context, register::DATA_LEN, 4, u64::from(MAX_WRITE) + 1)
            .unwrap();
        tty.write(&context, register::DATA_PTR, 4, RAM_BASE)
            .unwrap();
        assert!(tty
            .write(&context, register::CMD, 4, command::WRITE_BUFFER)
            .is_err());
        assert!(context.console.borrow().is_empty());
    }

    #[test]
    fn no_input_and_bad_accesses() {
        let tty = Tty::new();
        let context = FakeContext::new();
        assert_eq!(tty.read(&context, register::BYTES_READY, 4), Ok(0));
        assert!(!tty.take_interrupt());
        assert_eq!(
            tty.read(&context, register::CMD, 4),
            Err(AccessError::WriteOnly { offset: 8 })
        );
        assert_eq!(
            tty.write(&context, register::CMD, 4, 9),
            Err(AccessError::NoRegister { offset: 8 })
        );
    }
}
