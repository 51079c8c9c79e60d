//! A device context for host tests: a small guest RAM, a console that records, a set clock.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};

use hyp_arm::channel::guest_memory::{
    GuestAddress, GuestMemory, GuestMemoryError, GuestRam, GuestRamRange,
};
use hyp_arm::vdev::emulated::DeviceContext;

pub const RAM_BASE: u64 = 0x4000_0000;

pub struct FakeContext {
    pub ram: RefCell<Vec<u8>>,
    pub console: RefCell<Vec<u8>>,
    pub now: Cell<u64>,
}

impl FakeContext {
    pub fn new() -> FakeContext {
        FakeContext {
            ram: RefCell::new(vec![0; 0x1000]),
            console: RefCell::new(Vec::new()),
            now: Cell::new(0),
        }
    }

    fn ranges(&self) -> [GuestRamRange; 1] {
        [GuestRamRange {
            base: GuestAddress(RAM_BASE),
            size: self.ram.borrow().len() as u64,
        }]
    }
}

impl GuestMemory for FakeContext {
    fn contains(&self, address: GuestAddress, length: u64) -> bool {
        GuestRam::new(&self.ranges()).contains(address, length)
    }

    fn read(&self, address: GuestAddress, buffer: &mut [u8]) -> Result<(), GuestMemoryError> {
        GuestRam::new(&self.ranges()).check(address, buffer.len() as u64)?;
        let start = (address.0 - RAM_BASE) as usize;
        buffer.copy_from_slice(&self.ram.borrow()[start..start + buffer.len()]);
        Ok(())
    }

    fn write(&self, address: GuestAddress, bytes: &[u8]) -> Result<(), GuestMemoryError> {
        GuestRam::new(&self.ranges()).check(address, bytes.len() as u64)?;
        let start = (address.0 - RAM_BASE) as usize;
        self.ram.borrow_mut()[start..start + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
}

impl DeviceContext for FakeContext {
    fn memory(&self) -> &dyn GuestMemory {
        self
    }

    fn console_write(&self, bytes: &[u8]) {
        self.console.borrow_mut().extend_from_slice(bytes);
    }

    fn unix_time_nanoseconds(&self) -> u64 {
        self.now.get()
    }
}
