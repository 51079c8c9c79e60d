//! Host-test stand-ins for MMIO register frames: zeroed RAM that the drivers access like the device.

// RAM only holds what was written: no write-1-to-clear or self-clearing bits.

/// A zeroed, 8-byte aligned block of memory posing as a register frame.
pub(crate) struct FakeFrame {
    base: *mut u8,
    size: usize,
    _memory: Vec<u64>,
}

impl FakeFrame {
    pub(crate) fn new(size: usize) -> Self {
        let mut memory = vec![0u64; size.div_ceil(8)];
        Self {
            base: memory.as_mut_ptr().cast(),
            size,
            _memory: memory,
        }
    }

    /// The address to hand to a driver's `new`. The frame outlives the driver in every test, and tests only
    /// read and write it between driver calls.
    pub(crate) fn base(&self) -> usize {
        self.base as usize
    }

    fn at<T>(&self, offset: usize) -> *mut T {
        assert!(offset + size_of::<T>() <= self.size && offset.is_multiple_of(size_of::<T>()));
        // SAFETY: the assertion keeps the offset inside the allocation.
        unsafe { self.base.add(offset).cast() }
    }

    pub(crate) fn read8(&self, offset: usize) -> u8 {
        // SAFETY: `at` checks bounds and alignment; the memory is initialised.
        unsafe { self.at::<u8>(offset).read_volatile() }
    }

    pub(crate) fn read32(&self, offset: usize) -> u32 {
        // SAFETY: `at` checks bounds and alignment; the memory is initialised.
        unsafe { self.at::<u32>(offset).read_volatile() }
    }

    pub(crate) fn read64(&self, offset: usize) -> u64 {
        // SAFETY: `at` checks bounds and alignment; the memory is initialised.
        unsafe { self.at::<u64>(offset).read_volatile() }
    }

    pub(crate) fn write8(&self, offset: usize, value: u8) {
        // SAFETY: `at` checks bounds and alignment.
        unsafe { self.at::<u8>(offset).write_volatile(value) }
    }

    pub(crate) fn write32(&self, offset: usize, value: u32) {
        // SAFETY: `at` checks bounds and alignment.
        unsafe { self.at::<u32>(offset).write_volatile(value) }
    }

    pub(crate) fn write64(&self, offset: usize, value: u64) {
        // SAFETY: `at` checks bounds and alignment.
        unsafe { self.at::<u64>(offset).write_volatile(value) }
    }
}
