//! `google,goldfish-events-keypad`: the emulator's input device, registers as Linux's
//! drivers/input/keyboard/goldfish_events.c uses them. At probe the driver selects a page
//! (SET_PAGE) and reads its length (LEN) and bytes (DATA): the device name, then per event type
//! a capability bitmap. Events are queued as (type, code, value) words; the interrupt asks the
//! driver to read one event (three READs). This keypad has the power and volume keys, pressed
//! from the hypervisor console (`key power`, `key volumeup`, `key volumedown`).
#![forbid(unsafe_code)]

use hyp_arm::sync::Mutex;
use hyp_arm::vdev::emulated::{AccessError, CommandError, DeviceContext, EmulatedDevice};

/// Register offsets (goldfish_events.c): READ and SET_PAGE share offset 0.
mod register {
    pub const READ_OR_SET_PAGE: u64 = 0x00;
    pub const LEN: u64 = 0x04;
    pub const DATA: u64 = 0x08;
}

/// Pages (goldfish_events.c).
const PAGE_NAME: u32 = 0x0_0000;
const PAGE_EVBITS: u32 = 0x1_0000;

/// include/uapi/linux/input-event-codes.h.
pub const EV_SYN: u32 = 0x00;
pub const EV_KEY: u32 = 0x01;
pub const KEY_VOLUMEDOWN: u32 = 114;
pub const KEY_VOLUMEUP: u32 = 115;
pub const KEY_POWER: u32 = 116;

/// What the driver registers the input device as (the emulator's keyboard's name).
pub const NAME: &[u8] = b"qwerty2";
/// Bytes of the EV_KEY bitmap: up to KEY_POWER.
const KEY_BITMAP_BYTES: usize = KEY_POWER as usize / 8 + 1;
/// Queued words: 64 events.
const QUEUE_WORDS: usize = 192;

struct State {
    page: u32,
    queue: heapless::Deque<u32, QUEUE_WORDS>,
    /// Words of the current event the driver has read (0, 1 or 2).
    words_read: u8,
    interrupt_requested: bool,
}

/// The keypad model.
pub struct Keypad {
    state: Mutex<State>,
}

impl Default for Keypad {
    fn default() -> Self {
        Self::new()
    }
}

/// The bitmap of `page` (EVBITS | type), or `None` for a type this keypad does not have.
fn capability_byte(page: u32, index: usize) -> Option<u8> {
    let set = |bits: &[u32]| {
        let mut byte = 0u8;
        for &bit in bits {
            if bit as usize / 8 == index {
                byte |= 1 << (bit % 8);
            }
        }
        byte
    };
    match page {
        _ if page == PAGE_EVBITS | EV_SYN => Some(set(&[EV_SYN, EV_KEY])),
        _ if page == PAGE_EVBITS | EV_KEY => Some(set(&[KEY_VOLUMEDOWN, KEY_VOLUMEUP, KEY_POWER])),
        _ => None,
    }
}

impl Keypad {
    pub const fn new() -> Keypad {
        Keypad {
            state: Mutex::new(State {
                page: PAGE_NAME,
                queue: heapless::Deque::new(),
                words_read: 0,
                interrupt_requested: false,
            }),
        }
    }

    /// Queues a press and a release of `code`, each followed by a SYN_REPORT, as the emulator
    /// does. Returns false (nothing queued) when the queue has no room for all four events.
    pub fn press(&self, code: u32) -> bool {
        let events = [
            [EV_KEY, code, 1],
            [EV_SYN, 0, 0],
            [EV_KEY, code, 0],
            [EV_SYN, 0, 0],
        ];
        let mut state = self.state.lock();
        if state.queue.capacity() - state.queue.len() < events.len() * 3 {
            return false;
        }
        if state.queue.is_empty() {
            state.interrupt_requested = true;
        }
        for word in events.iter().flatten() {
            let _ = state.queue.push_back(*word);
        }
        true
    }

    fn page_length(page: u32) -> u32 {
        match page {
            PAGE_NAME => NAME.len() as u32,
            _ if capability_byte(page, 0).is_some() => KEY_BITMAP_BYTES as u32,
            // Other event types and the absolute-axis page: nothing.
            _ => 0,
        }
    }

    fn page_byte(page: u32, index: usize) -> u8 {
        if page == PAGE_NAME {
            return NAME.get(index).copied().unwrap_or(0);
        }
        if index >= KEY_BITMAP_BYTES {
            return 0;
        }
        capability_byte(page, index).unwrap_or(0)
    }
}

impl EmulatedDevice for Keypad {
    fn read(&self, _: &dyn DeviceContext, offset: u64, width: u8) -> Result<u64, AccessError> {
        let mut state = self.state.lock();
        match offset {
            register::READ_OR_SET_PAGE if width == 4 => {
                // An empty queue reads 0 (an EV_SYN), which the driver passes on harmlessly.
                let word = state.queue.pop_front().unwrap_or(0);
                state.words_read = (state.words_read + 1) % 3;
                // One event read, more waiting: ask for the next (the line stays high).
                if state.words_read == 0 && !state.queue.is_empty() {
                    state.interrupt_requested = true;
                }
                Ok(u64::from(word))
            }
            register::LEN if width == 4 => Ok(u64::from(Self::page_length(state.page))),
            // DATA is read byte by byte (name, bitmaps) or, for the absolute page, by words.
            _ if (register::DATA..0x1000).contains(&offset) && matches!(width, 1 | 2 | 4) => {
                let first = (offset - register::DATA) as usize;
                let value = (0..usize::from(width)).fold(0u64, |value, byte| {
                    value | u64::from(Self::page_byte(state.page, first + byte)) << (8 * byte)
                });
                Ok(value)
            }
            register::READ_OR_SET_PAGE | register::LEN => {
                Err(AccessError::UnsupportedWidth { offset, width })
            }
            _ => Err(AccessError::NoRegister { offset }),
        }
    }

    fn write(
        &self,
        _: &dyn DeviceContext,
        offset: u64,
        width: u8,
        value: u64,
    ) -> Result<(), AccessError> {
        match (offset, width) {
            (register::READ_OR_SET_PAGE, 4) => {
                self.state.lock().page = value as u32;
                Ok(())
            }
            (register::READ_OR_SET_PAGE, _) => Err(AccessError::UnsupportedWidth { offset, width }),
            (register::LEN, _) => Err(AccessError::ReadOnly { offset }),
            _ if (register::DATA..0x1000).contains(&offset) => {
                Err(AccessError::ReadOnly { offset })
            }
            _ => Err(AccessError::NoRegister { offset }),
        }
    }

    fn take_interrupt(&self) -> bool {
        core::mem::take(&mut self.state.lock().interrupt_requested)
    }

    fn command(&self, _: &dyn DeviceContext, words: &[&str]) -> Result<(), CommandError> {
        const USAGE: &str = "key power|volumeup|volumedown";
        let code = match words {
            ["key", "power"] => KEY_POWER,
            ["key", "volumeup"] => KEY_VOLUMEUP,
            ["key", "volumedown"] => KEY_VOLUMEDOWN,
            ["key", ..] => return Err(CommandError::Usage(USAGE)),
            _ => return Err(CommandError::NotMine),
        };
        if self.press(code) {
            Ok(())
        } else {
            Err(CommandError::Usage(
                "the key queue is full: the guest is not reading it",
            ))
        }
    }

    fn reset(&self) {
        let mut state = self.state.lock();
        state.page = PAGE_NAME;
        state.queue.clear();
        state.words_read = 0;
        state.interrupt_requested = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeContext;

    /// What the driver's probe does: the name, then the EV_SYN (types) and EV_KEY bitmaps.
    fn probe_page(keypad: &Keypad, page: u32) -> Vec<u8> {
        let context = FakeContext::new();
        keypad.write(&context, 0, 4, u64::from(page)).unwrap();
        let length = keypad.read(&context, register::LEN, 4).unwrap();
        (0..length)
            .map(|index| keypad.read(&context, register::DATA + index, 1).unwrap() as u8)
            .collect()
    }

    #[test]
    fn the_probe_finds_the_name_and_the_keys() {
        let keypad = Keypad::new();
        assert_eq!(probe_page(&keypad, PAGE_NAME), b"qwerty2");
        assert_eq!(probe_page(&keypad, PAGE_EVBITS | EV_SYN)[0], 0b11);
        let keys = probe_page(&keypad, PAGE_EVBITS | EV_KEY);
        assert_eq!(keys.len(), 15);
        // KEY_VOLUMEDOWN 114, KEY_VOLUMEUP 115, KEY_POWER 116: byte 14, bits 2, 3, 4.
        assert_eq!(keys[14], 0b1_1100);
        assert!(keys[..14].iter().all(|&byte| byte == 0));
        assert!(probe_page(&keypad, PAGE_EVBITS | 2).is_empty(), "no EV_REL");
        assert!(probe_page(&keypad, 0x2_0003).is_empty(), "no EV_ABS");
    }

    #[test]
    fn a_key_press_is_read_one_event_per_interrupt() {
        let keypad = Keypad::new();
        let context = FakeContext::new();
        assert!(!keypad.take_interrupt());
        keypad.command(&context, &["key", "power"]).unwrap();
        let mut events = Vec::new();
        // The driver's handler: three READs per interrupt, until no more are requested.
        while keypad.take_interrupt() {
            let event: Vec<u64> = (0..3)
                .map(|_| keypad.read(&context, 0, 4).unwrap())
                .collect();
            events.push(event);
        }
        assert_eq!(
            events,
            [
                vec![1, 116, 1],
                vec![0, 0, 0],
                vec![1, 116, 0],
                vec![0, 0, 0]
            ]
        );
    }

    #[test]
    fn a_full_queue_refuses_more_presses() {
        let keypad = Keypad::new();
        let context = FakeContext::new();
        for _ in 0..QUEUE_WORDS / 12 {
            keypad.command(&context, &["key", "volumeup"]).unwrap();
        }
        assert!(matches!(
            keypad.command(&context, &["key", "volumedown"]),
            Err(CommandError::Usage(_))
        ));
        assert!(matches!(
            keypad.command(&context, &["key", "home"]),
            Err(CommandError::Usage(_))
        ));
        assert_eq!(
            keypad.command(&context, &["battery"]),
            Err(CommandError::NotMine)
        );
    }

    #[test]
    fn bad_widths_are_refused() {
        let keypad = Keypad::new();
        let context = FakeContext::new();
        assert_eq!(
            keypad.read(&context, 0, 1),
            Err(AccessError::UnsupportedWidth {
                offset: 0,
                width: 1
            })
        );
        assert_eq!(
            keypad.write(&context, register::LEN, 4, 0),
            Err(AccessError::ReadOnly { offset: 4 })
        );
        assert_eq!(
            keypad.read(&context, 0x1000, 4),
            Err(AccessError::NoRegister { offset: 0x1000 })
        );
    }
}
